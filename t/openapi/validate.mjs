// Holds answers the test suite received to docs/openapi.yaml.
//
//   node validate.mjs OPENAPI.yaml ANSWERS.jsonl
//
// ANSWERS.jsonl: one {"method","path","status","type","body"} a line (the
// harness writes them when GOV_OPENAPI_LOG names the file).  Each answer
// must match a documented path, method and status; a JSON body must be
// valid against that response's schema (JSON Schema 2020-12, as OpenAPI
// 3.1 uses it).  Prints TAP.

import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

const [specFile, answersFile] = process.argv.slice(2);
const spec = YAML.parse(readFileSync(specFile, 'utf8'));

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(spec, 'openapi');

const esc = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');

const templates = Object.keys(spec.paths).map((p) => ({
    path: p,
    re: new RegExp('^' + p.replace(/[.*+?^$()|[\]\\]/g, '\\$&')
                          .replace(/\\?\{[^}]+\\?\}/g, '[^/]+') + '$'),
    literal: p.replace(/\{[^}]+\}/g, '').length,
}));

function deref(obj, pointer) {
    // a response object may be a $ref into components/responses
    while (obj && obj.$ref) {
        pointer = obj.$ref.slice(1);
        obj = pointer.split('/').slice(1).reduce(
            (o, k) => o[k.replace(/~1/g, '/').replace(/~0/g, '~')], spec);
    }
    return [obj, pointer];
}

let n = 0;
let failed = 0;
const seen = new Set();

function report(ok, what, why) {
    n++;
    if (!ok) failed++;
    console.log(`${ok ? 'ok' : 'not ok'} ${n} - ${what}${ok ? '' : ' # ' + why}`);
}

const lines = readFileSync(answersFile, 'utf8').split('\n').filter(Boolean);

for (const line of lines) {
    const a = JSON.parse(line);
    const path = a.path.split('?')[0];
    const what = `${a.method} ${path} ${a.status}`;

    const match = templates.filter((t) => t.re.test(path))
                           .sort((x, y) => y.literal - x.literal)[0];
    if (!match) {
        report(false, what, 'no documented path');
        continue;
    }

    const op = spec.paths[match.path][a.method.toLowerCase()];
    if (!op) {
        report(false, what, `no ${a.method} on ${match.path}`);
        continue;
    }

    const codes = Object.keys(op.responses);
    const code = codes.find((c) => c === String(a.status))
              || codes.find((c) => c === String(a.status)[0] + 'XX')
              || codes.find((c) => c === 'default');
    if (!code) {
        report(false, what, `status ${a.status} not documented for ` +
               `${a.method} ${match.path}`);
        continue;
    }

    const base = `/paths/${esc(match.path)}/${a.method.toLowerCase()}` +
                 `/responses/${code}`;
    const [resp, pointer] = deref(op.responses[code], base);
    const json = resp.content && resp.content['application/json'];
    const key = `${a.method} ${match.path} ${code}`;

    if (!/json/.test(a.type || '') || a.body === '') {
        if (!seen.has(key)) {
            seen.add(key);
            report(true, `${what} (no JSON body)`);
        }
        continue;
    }

    if (!json || !json.schema) {
        report(false, what, 'a JSON body where none is documented');
        continue;
    }

    let body;
    try {
        body = JSON.parse(a.body);
    } catch (e) {
        report(false, what, 'not JSON: ' + e.message);
        continue;
    }

    const ref = `openapi#${pointer}/content/application~1json/schema`;
    const validate = ajv.getSchema(ref) || ajv.compile({ $ref: ref });
    const ok = validate(body);
    if (!ok || !seen.has(key)) {
        seen.add(key);
        report(ok, `${what} matches ${key}`,
               ajv.errorsText(validate.errors) + ' in ' + a.body.slice(0, 300));
    }
}

console.log(`1..${n}`);
console.log(`# ${lines.length} answers, ${seen.size} kinds`);
process.exit(failed ? 1 : 0);
