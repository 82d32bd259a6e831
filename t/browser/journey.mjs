// The citizen's journey through the portal in Debian's headless Chromium,
// on a phone-sized screen: demo login, pick a bundle, read the guide,
// submit the form with mistakes, see every problem at once, fix them, get
// the receipt, watch the progress bar move as the demo departments push
// their states, and rate the service.
//
//   node journey.mjs BASE_URL SCREENSHOT_DIR [js|nojs]
//
// Prints one line per check, "ok - NAME" or "not ok - NAME # WHY", which
// t/060-browser.t turns into TAP; screenshots are kept in SCREENSHOT_DIR.
// With "nojs" the whole journey runs with JavaScript disabled.

import { chromium } from 'playwright-core';
import { mkdirSync, writeFileSync, statSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// axe-core (npm, pinned by package-lock.json): WCAG 2.1 A and AA
const axeSource = readFileSync(createRequire(import.meta.url)
    .resolve('axe-core/axe.min.js'), 'utf8');

const [base, shots, mode = 'js'] = process.argv.slice(2);
const js = mode !== 'nojs';
mkdirSync(shots, { recursive: true });

let failed = 0;
let shot = 0;

function check(cond, name, why = '') {
    if (cond) {
        console.log(`ok - ${name}`);
    } else {
        failed++;
        console.log(`not ok - ${name}${why ? ' # ' + String(why).replace(/\n/g, ' ') : ''}`);
    }
}

const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // the harness's own certificate when the portal is served over HTTPS
    args: ['--no-sandbox', '--ignore-certificate-errors'],
});

const context = await browser.newContext({ ignoreHTTPSErrors: true,
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 1,
    isMobile: true,
    hasTouch: true,
    locale: 'zh-CN',
    javaScriptEnabled: js,
});

// CONTRACT section 17: the pages' Content-Security-Policy must never
// bite the portal itself; every violation a page reports is collected
const violations = [];
if (js) {
    await context.exposeBinding('govCspViolation', (_source, v) => violations.push(v));
    await context.addInitScript(() => {
        document.addEventListener('securitypolicyviolation', (e) => {
            window.govCspViolation(`${location.pathname}: ${e.violatedDirective} `
                + `${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
        });
    });
}

const page = await context.newPage();
const problems = [];
page.on('pageerror', (e) => problems.push(e.message));
page.on('console', (m) => {
    // a 4xx/5xx answer is logged as "Failed to load resource": the
    // journey provokes those (422, 404) on purpose
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
        problems.push(m.text());
    }
});

async function snap(name) {
    shot++;
    const file = `${shots}/${mode}-${String(shot).padStart(2, '0')}-${name}.png`;
    await page.screenshot({ path: file, fullPage: true });
}

// axe-core's WCAG 2.1 A and AA rules on the page as it is, at a phone's
// width and at a desktop's (evaluated by the driver: also without the
// page's own JavaScript)
let axePage = null;

async function accessible(what, except = []) {
    // without JavaScript the page's timers never fire, and axe needs them:
    // its HTML is then checked in a page of its own that runs scripts
    let target = page;
    if (!js) {
        if (!axePage) {
            const ctx = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'zh-CN' });
            axePage = await ctx.newPage();
        }
        let html = await page.content();
        if (except.includes('meta-refresh')) {
            // the copy must stay put while axe looks at it
            html = html.replace(/<meta http-equiv="refresh"[^>]*>/, '');
        }
        await axePage.setContent(html, { waitUntil: 'load' });
        target = axePage;
    }
    const size = target.viewportSize();
    for (const [width, height, name] of [[390, 844, 'phone'], [1280, 900, 'desktop']]) {
        await target.setViewportSize({ width, height });
        if (!await target.evaluate(() => !!window.axe)) {
            // evaluated by the driver: the page's CSP forbids eval
            await target.evaluate(axeSource);
        }
        const v = await target.evaluate(async ([except]) => {
            const r = await window.axe.run(document, {
                runOnly: { type: 'tag',
                           values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
                rules: Object.fromEntries(except.map((id) => [id, { enabled: false }])),
            });
            return r.violations.map((x) => `${x.id} (${x.impact}): ` +
                x.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', '));
        }, [except]);
        check(v.length === 0, `${what}: no axe-core WCAG 2.1 AA violation (${name})`,
              v.join(' | '));
    }
    await target.setViewportSize(size);
}

// what every page must be for citizens on phones, often elderly
async function readable(what, except = []) {
    const r = await page.evaluate(() => {
        const small = [];
        for (const el of document.querySelectorAll(
                 'a.button, button, input[type=text], textarea')) {
            const b = el.getBoundingClientRect();
            if (b.height < 44) small.push(el.outerHTML.slice(0, 60));
        }
        return {
            lang: document.documentElement.lang,
            font: parseFloat(getComputedStyle(document.body).fontSize),
            overflow: document.documentElement.scrollWidth > window.innerWidth + 1,
            small,
        };
    });
    await accessible(what, except);
    // 适老化 beyond axe: contrast (WCAG's formula) of every text shown,
    // 4.5:1 at least and 7:1 for body text; and no state told by colour
    // alone (every coloured marker carries words)
    const seen = await page.evaluate(() => {
        const parse = (c) => {
            const m = /rgba?\(([^)]+)\)/.exec(c);
            if (!m) return null;
            const p = m[1].split(',').map(Number);
            return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
        };
        const lum = (c) => {
            const f = (v) => { v /= 255;
                return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
            return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
        };
        const behind = (el) => {
            for (; el; el = el.parentElement) {
                const c = parse(getComputedStyle(el).backgroundColor);
                if (c && c.a > 0.99) return c;
            }
            return { r: 255, g: 255, b: 255, a: 1 };
        };
        const low = [];
        let body = 0;
        for (const el of document.querySelectorAll('body *')) {
            if (!el.getClientRects().length) continue;
            if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
            const fg = parse(getComputedStyle(el).color);
            if (!fg) continue;
            const a = lum(fg), b = lum(behind(el));
            const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
            const isBody = ['P', 'LI', 'TD', 'DD', 'DT', 'LABEL'].includes(el.tagName);
            body += isBody;
            if (ratio < 4.5 || (isBody && ratio < 7)) {
                low.push(`${el.tagName.toLowerCase()}${el.className ? '.' + el.className : ''} ${ratio.toFixed(2)}:1`);
            }
        }
        const mute = [...document.querySelectorAll('.badge, .over, .warn, .error, .uploaded, .done, .req')]
            .filter((el) => el.getClientRects().length && !el.textContent.trim())
            .map((el) => el.outerHTML.slice(0, 60));
        return { low, body, mute };
    });
    check(seen.low.length === 0,
          `${what}: text contrast at least 4.5:1, body text 7:1 (${seen.body} body texts)`,
          seen.low.slice(0, 6).join(' | '));
    check(seen.mute.length === 0, `${what}: nothing told by colour alone`,
          seen.mute.join(' | '));
    check(r.lang === 'zh-CN', `${what}: zh-CN`);
    check(r.font >= 18, `${what}: base font at least 18px`, r.font);
    check(!r.overflow, `${what}: no sideways scrolling on a phone`);
    check(r.small.length === 0, `${what}: touch targets at least 44px high`,
          r.small.join(' | '));
}

async function progressState() {
    return page.evaluate(() => {
        const bar = document.querySelector('[role=progressbar]');
        return {
            percent: bar ? Number(bar.getAttribute('aria-valuenow')) : -1,
            text: document.body.innerText,
        };
    });
}

try {
    // --- login through the demo identity platform (OpenID Connect) ---------

    let res = await page.goto(`${base}/auth/oidc?return_to=%2Fbundles%2F`);
    check(res.status() === 200 && new URL(page.url()).pathname === '/idp/authorize',
          'sent to the identity platform\'s login page', page.url());
    const authorize = new URL(page.url()).searchParams;
    check(authorize.get('code_challenge_method') === 'S256' && authorize.get('state')
          && authorize.get('nonce') && !authorize.has('return_to'),
          'a code flow request with PKCE, state and nonce, return_to kept home');
    await snap('login');
    await Promise.all([
        page.waitForURL((u) => u.pathname === '/bundles/', { timeout: 15000 })
            .catch(() => {}),
        page.click('text=张三（市民本人）'),
    ]);
    check(new URL(page.url()).pathname === '/bundles/', 'logged in, on the bundle list',
          page.url());
    check(!page.url().includes('code=') && !page.url().includes('state='),
          'no code or state left in the address bar');
    const cookies = await context.cookies();
    const sid = cookies.find((c) => c.name === 'GOVSID');
    check(sid && sid.httpOnly, 'a session cookie, HttpOnly');
    await readable('bundle list');
    await snap('bundles');

    // the citizen's own files, made here: a real JPEG and a real PDF
    const photo = `${shots}/${mode}-baby.jpg`;
    const scan = `${shots}/${mode}-id-cards.pdf`;
    writeFileSync(photo, await page.screenshot({ type: 'jpeg', quality: 70 }));
    writeFileSync(scan, await page.pdf({ format: 'A4' }));
    check(statSync(photo).size > 1000 && statSync(scan).size > 1000,
          'a JPEG and a PDF to upload');

    // --- pick a bundle, read the guide ---------------------------------------

    await page.click('text=新生儿出生一件事');
    await page.waitForLoadState();
    check(new URL(page.url()).pathname === '/bundles/newborn', 'the guide', page.url());
    let text = await page.innerText('main');
    check(text.includes('所需材料') && text.includes('出生医学证明'),
          'the guide lists the materials');
    check((await page.locator('.badge', { hasText: '电子证照' }).count()) > 0,
          'materials available as e-licences are marked');
    check(text.includes('卫生健康委') && text.includes('公安局'),
          'and the departments');
    await readable('guide');
    await snap('guide');

    // --- the situation (情形): asked first, then the one list ------------------

    check(await page.locator('form#situation').count() === 1,
          'the guide asks the situation first, in a plain form');
    check(text.includes('户籍信息跨地核验') && text.includes('视情形'),
          'unanswered, the conditional item shows with its condition');
    await page.fill('#q-hukou_local', '是');
    await Promise.all([page.waitForNavigation(),
                       page.click('form#situation button')]);
    text = await page.innerText('main');
    check(new URL(page.url()).searchParams.get('hukou_local') === '是',
          'the answer is in the address', page.url());
    check(!text.includes('户籍信息跨地核验') && text.includes('户口登记'),
          'answered 是: the one list that applies', text.slice(0, 300));
    await readable('guide for a situation');
    await snap('guide-situation');

    // --- the form, with mistakes ---------------------------------------------

    await page.click('a.button:has-text("开始申报")');
    await page.waitForLoadState();
    check(new URL(page.url()).pathname === '/bundles/newborn/apply', 'the application form');
    check(await page.inputValue('input[name="fields.hukou_local"]') === '是',
          'the form starts from the answer');
    await readable('form');
    await snap('form');

    const pattern = await page.getAttribute('input[name="fields.mother_id"]', 'pattern');
    check(pattern === '[0-9]{17}[0-9Xx]', 'patterns are HTML constraints', pattern);
    check(await page.$eval('form[action$="/applications"]', (f) => !f.checkValidity()),
          'the browser itself knows the blank form is incomplete');

    // as a browser without constraint validation would: the server decides
    await page.$eval('form[action$="/applications"]', (f) => { f.noValidate = true; });

    await page.fill('input[name="fields.baby_name"]', '');
    await page.fill('input[name="fields.birth_date"]', '2026年11月20日');
    await page.fill('input[name="fields.mother_name"]', '李梅');
    await page.fill('input[name="fields.mother_id"]', '12345');
    await page.fill('input[name="fields.phone"]', '13800000000');
    // one file chosen already: it must not be asked for again
    await page.setInputFiles('input[name="materials.parent_id_cards"]', scan);
    await page.uncheck('input[name="elicense.household_register"]');

    await Promise.all([page.waitForNavigation(), page.click('button:has-text("提交申报")')]);

    const listed = await page.$$eval('#problems li', (l) => l.map((e) => e.innerText));
    check(listed.length >= 5, 'every problem at once', JSON.stringify(listed));
    check(listed.some((s) => s.startsWith('新生儿姓名')), 'the empty name');
    check(listed.some((s) => s.startsWith('出生日期') && s.includes('格式')),
          'the date in the wrong format');
    check(listed.some((s) => s.startsWith('母亲身份证号')), 'the short ID number');
    check(listed.some((s) => s.startsWith('户口簿')), 'the unticked e-licence material');
    check(listed.some((s) => s.startsWith('婴儿近期免冠照片')), 'the missing photo');
    const inline = await page.$$eval('.field.has-error .error', (l) => l.length);
    check(inline === listed.length, 'each shown next to its field', `${inline} vs ${listed.length}`);
    check(await page.inputValue('input[name="fields.mother_name"]') === '李梅',
          'what was right is kept');
    check(await page.inputValue('input[name="fields.birth_date"]') === '2026年11月20日',
          'what was wrong is kept to correct');
    const kept = await page.innerText('#up-parent_id_cards').catch(() => '');
    check(/已上传：.*id-cards\.pdf（\d+(\.\d)? (KB|MB|字节)）/.test(kept),
          'the uploaded PDF is kept and shown by name and size', kept);
    await readable('form with problems');
    await snap('problems');

    // the summary links to the field
    await page.click('#problems li >> nth=0 >> a');
    check(await page.evaluate(() => location.hash === '#in-baby_name'),
          'a problem links to its field');

    // --- fix them ------------------------------------------------------------

    await page.fill('input[name="fields.baby_name"]', '王小宝');
    await page.fill('input[name="fields.birth_date"]', '2026-11-20');
    await page.fill('input[name="fields.mother_id"]', '11010119900101123X');
    await page.check('input[name="elicense.household_register"]');
    await page.setInputFiles('input[name="materials.baby_photo"]', photo);
    // 容缺受理: the marriage certificate promised for later (承诺后补)
    await page.uncheck('input[name="elicense.marriage_cert"]');
    await page.check('input[name="promises.marriage_cert"]');
    check(await page.$eval('form[action$="/applications"]', (f) => f.checkValidity()),
          'the corrected form satisfies the browser too');

    await Promise.all([page.waitForNavigation(), page.click('button:has-text("提交申报")')]);

    const id = (await page.textContent('#app-id') || '').trim();
    const code = (await page.textContent('#query-code') || '').trim();
    check(/^NB\d{14}$/.test(id), 'the receipt shows the application id', id);
    check(/^[2-9A-Z]{8}$/.test(code), 'and the query code', code);
    text = await page.innerText('main');
    check(text.includes('接下来会怎样'), 'and what happens next');
    const received = await page.innerText('#received').catch(() => '');
    check(/已上传.*id-cards\.pdf/.test(received) && /已上传.*baby\.jpg/.test(received),
          'the receipt lists both files received', received);
    await readable('receipt');
    await snap('receipt');

    // --- progress ------------------------------------------------------------

    await page.click('a.button:has-text("查看办理进度")');
    await page.waitForLoadState();
    check(new URL(page.url()).pathname === `/progress/${id}`, 'the progress page');
    const promise = await page.innerText('#promised').catch(() => '');
    check(promise.includes('承诺后补的材料') && /结婚证：请在 \d{4}-\d{2}-\d{2} 前补交/.test(promise),
          'the promised marriage certificate is listed with its day', promise);
    check(await page.locator('form#supply input[name="materials.marriage_cert"]').count() === 1,
          'with a form to supply it');
    let st = await progressState();
    check(st.percent >= 0 && st.percent < 100, 'with a progress bar', st.percent);
    const first = st.percent;
    await readable('progress');
    await snap('progress');

    // the demo departments accept, review and approve, pushing each state
    const seen = new Set();
    let moved = false;
    let answered = false;
    let movedOn = false;
    let answeredAt = -1;
    let answeredItem = '';
    const answers = {
        'fields.birth_date': '2026-11-20',
        'fields.mother_id': '11010119900101123X',
        'fields.phone': '13800000000',
    };
    const until = Date.now() + 200000;
    while (Date.now() < until) {
        await page.waitForTimeout(1500);
        await page.reload();
        st = await progressState();
        for (const s of ['已受理', '审查中', '补正中', '特别程序', '办结（准予）', '已送达']) {
            if (st.text.includes(s)) seen.add(s);
        }
        if (!moved && st.percent > first) {
            moved = true;
            await snap('moving');
        }

        // a department asks for a correction: answer it on the page (a
        // form that goes away meanwhile, its wait over, is left alone)
        const ask = page.locator('form[id^="answer-"]').first();
        if (!answered && await ask.count()) {
            try {
                await snap('correction');
                const card = await page.innerText('div[id^="correction-"] >> nth=0',
                                                  { timeout: 2000 });
                for (const input of await ask.locator('input[type="text"]').all()) {
                    const name = await input.getAttribute('name', { timeout: 2000 });
                    await input.fill(answers[name] || '王小宝', { timeout: 2000 });
                }
                for (const input of await ask.locator('input[type="file"]').all()) {
                    await input.setInputFiles(photo, { timeout: 2000 });
                }
                const formId = await ask.getAttribute('id', { timeout: 2000 });
                const [nav] = await Promise.all([
                    page.waitForNavigation({ timeout: 10000 }),
                    ask.locator('button').click({ timeout: 2000 })]);
                // back on the progress page, the form gone: on its way, or
                // (a quick department) already taken
                if (nav && nav.status() === 200
                    && new URL(page.url()).pathname === `/progress/${id}`
                    && await page.locator(`#${formId}`).count() === 0)
                {
                    answered = true;
                    answeredItem = formId.slice('answer-'.length);
                    answeredAt = st.percent;
                    check(card.includes('需要补正') && card.includes('请在'),
                          'a correction request at the top: what, why and by when',
                          card);
                    check(true, 'answered online, with a new photo where asked');
                    await snap('answered');
                } else {
                    // the department moved on meanwhile: the next one
                    console.log(`# an answer came back ${nav && nav.status()}`);
                    await page.goto(`${base}/progress/${id}`);
                }
            } catch (e) {
                await page.goto(`${base}/progress/${id}`);
            }
        }
        if (answered && !movedOn
            && await page.locator(`#correction-${answeredItem}`).count() === 0)
        {
            movedOn = true;
            check(true, 'the department took the answer and the step moved on');
        }
        if (await page.locator('form[action$="/rating"]').count()) break;
    }
    check(answered, 'a correction was asked and answered', [...seen].join(','));
    check(movedOn, 'and the step moved on after it', answeredAt);
    check(moved, 'the bar moved as departments worked', `${first} -> ${st.percent}`);
    check(seen.has('已受理') || seen.has('审查中'), 'their states shown in Chinese',
          [...seen].join(','));
    check(await page.locator('form[action$="/rating"]').count() === 1,
          'all done: the rating form', st.percent);
    await readable('progress, done');
    await snap('done');

    // --- rate the service ----------------------------------------------------

    await page.check('input[name="score"][value="5"]');
    await page.fill('textarea[name="comment"]', '一次办好，不用跑腿，谢谢！');
    await Promise.all([page.waitForNavigation(), page.click('button:has-text("提交评价")')]);
    check(new URL(page.url()).pathname === `/progress/${id}`, 'back on the progress page');
    text = await page.innerText('main');
    check(text.includes('您的评价：5 分'), 'the rating is shown');
    check(await page.locator('form[action$="/rating"]').count() === 0, 'and asked no more');
    await snap('rated');

    // --- the results on the finished steps --------------------------------------

    text = await page.innerText('main');
    check(text.includes('办理结果：'), 'the finished steps show their results',
          text.slice(0, 200));

    // --- another application, withdrawn ---------------------------------------

    res = await context.request.post(`${base}/bundles/newborn/applications`, {
        headers: { 'Content-Type': 'application/json' },
        data: { fields: { baby_name: '王二宝', birth_date: '2026-11-21',
                          mother_name: '李梅', mother_id: '11010119900101123X',
                          phone: '13800000000', hukou_local: '是' },
                materials: { birth_medical_cert: 'elicense',
                             parent_id_cards: 'UP-2026-0001',
                             household_register: 'elicense',
                             marriage_cert: 'elicense',
                             baby_photo: 'UP-2026-0002' } },
    });
    const second = (await res.json()).id;
    check(res.status() === 201 && second, 'a second application', res.status());
    await page.goto(`${base}/progress/${second}`);
    check(await page.locator('a[href$="/withdrawal"]').count() === 1,
          'its progress page offers withdrawal');
    await Promise.all([page.waitForNavigation(),
                       page.click('a[href$="/withdrawal"]')]);
    text = await page.innerText('main');
    check(await page.locator('form[id="withdraw"]').count() === 1
          && text.includes('撤回后不能恢复'),
          'a page of its own asks to confirm: it cannot be undone',
          text.slice(0, 200));
    await snap('withdraw-confirm');
    await readable('withdrawal confirmation');
    await page.fill('textarea[name="reason"]', '信息填错，重新申报');
    await page.check('input[name="confirm"]');
    await Promise.all([page.waitForNavigation(),
                       page.click('button:has-text("确认撤回")')]);
    text = await page.innerText('main');
    check(new URL(page.url()).pathname === `/progress/${second}`
          && text.includes('已撤回'), 'withdrawn: every step says so', text.slice(0, 200));
    check(await page.locator('a[href$="/withdrawal"]').count() === 0,
          'and it is offered no more');
    await snap('withdrawn');

    // --- a query code opens the progress to someone else, masked -----------

    const other = await browser.newContext({ ignoreHTTPSErrors: true, javaScriptEnabled: js, locale: 'zh-CN' });
    const p2 = await other.newPage();
    res = await p2.goto(`${base}/progress/${id}?code=${code}`);
    check(res.status() === 200, 'the progress with the query code, not logged in');
    check(!(await p2.innerText('main')).includes('110101199001011234'),
          'without the applicant\'s ID number');
    await p2.goto(`${base}/progress/${id}`);
    check(new URL(p2.url()).pathname === '/idp/authorize',
          'without the code: sent to log in at the identity platform', p2.url());
    await Promise.all([
        p2.waitForURL((u) => u.pathname === `/progress/${id}`, { timeout: 15000 })
            .catch(() => {}),
        p2.click('text=李四（市民本人）'),
    ]);
    check(new URL(p2.url()).pathname === `/progress/${id}`,
          'and back to the page that asked, logged in', p2.url());
    check(!(await p2.innerText('body')).includes('110101199001011234'),
          'another citizen does not see the application');
    await other.close();

    // --- the text-size switch (适老化): the largest size, no JavaScript -----

    const guide = await page.goto(`${base}/bundles/newborn`);
    const csp = guide.headers()['content-security-policy'] || '';
    check(csp.includes("frame-ancestors 'none'") && !csp.includes('unsafe'),
          'pages carry a strict Content-Security-Policy', csp);
    await Promise.all([
        page.waitForURL((u) => u.pathname === '/bundles/newborn',
                        { timeout: 15000 }).catch(() => {}),
        page.click('nav.textsize >> text=特大'),
    ]);
    const px = await page.evaluate(() =>
        parseFloat(getComputedStyle(document.documentElement).fontSize));
    check(px >= 28, 'the text-size switch: 特大 makes the page 28px', px);
    check(new URL(page.url()).pathname === '/bundles/newborn',
          'and comes back to the page it was on', page.url());
    for (const [path, what] of [['/bundles/newborn', 'guide'],
                                ['/bundles/', 'bundle list'],
                                [`/progress/${id}`, 'progress']]) {
        await page.goto(`${base}${path}`);
        const size = await page.evaluate(() =>
            parseFloat(getComputedStyle(document.documentElement).fontSize));
        check(size >= 28, `${what} at the largest size: the size is kept`, size);
        await readable(`${what} at the largest size`);
        await snap(`${what.replace(/ /g, '-')}-largest`);
    }
    await Promise.all([
        page.waitForURL((u) => u.pathname === `/progress/${id}`,
                        { timeout: 15000 }).catch(() => {}),
        page.click('nav.textsize >> text=标准'),
    ]);
    check(await page.evaluate(() =>
              parseFloat(getComputedStyle(document.documentElement).fontSize)) === 20,
          'and back to the standard size');

    // --- an error page ------------------------------------------------------

    res = await page.goto(`${base}/progress/NB20000101000000`);
    check(res.status() === 404, 'an unknown application: 404');
    check((await page.innerText('main')).includes('没有找到'), 'in plain Chinese');
    await accessible('error page');
    await snap('not-found');

    // --- logout, at the identity platform too -------------------------------

    const before = (await context.cookies()).find((c) => c.name === 'GOVSID');
    await page.goto(`${base}/demo/login.html`);
    await Promise.all([
        page.waitForURL((u) => u.pathname === '/idp/logout', { timeout: 15000 })
            .catch(() => {}),
        page.click('text=退出登录'),
    ]);
    check(new URL(page.url()).pathname === '/idp/logout'
          && (await page.innerText('body')).includes('您已退出统一身份认证平台'),
          'logout ends the session at the identity platform too', page.url());
    check(before && !(await context.cookies()).find((c) => c.name === 'GOVSID'
                                                        && c.value),
          'the session cookie is gone');
    res = await page.goto(`${base}/progress/${id}`);
    check(new URL(page.url()).pathname === '/idp/authorize',
          'after logout, progress asks for a login again', page.url());

    // --- the public statistics (阳光公开) and the operators' page ------------

    res = await page.goto(`${base}/stats/`);
    check(res.status() === 200, 'the statistics page');
    text = await page.innerText('main');
    check(text.includes('红黑榜') && text.includes('新生儿出生一件事'),
          'it shows the boards and the bundle', text.slice(0, 200));
    check(await page.locator('svg[role=img] title').count() >= 2,
          'charts drawn on the server, titled');
    check(await page.locator('table caption').count() >= 3,
          'the same figures as tables with captions');
    check(/按期办结率/.test(text) && /满意率/.test(text),
          'on-time rate and satisfaction in words');
    await readable('statistics');
    await snap('statistics');

    const opContext = await browser.newContext({ ignoreHTTPSErrors: true,
        viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
        locale: 'zh-CN', javaScriptEnabled: js });
    const op = await opContext.newPage();
    await op.goto(`${base}/stats/ratings/`);
    check(new URL(op.url()).pathname === '/idp/authorize',
          'the operators\' page asks for a login', op.url());
    await Promise.all([
        op.waitForURL((u) => u.pathname === '/stats/ratings/', { timeout: 15000 })
            .catch(() => {}),
        op.click('text=赵六（政务服务中心工作人员，差评整改）'),
    ]);
    check(new URL(op.url()).pathname === '/stats/ratings/',
          'an operator reaches the list of bad ratings', op.url());
    check((await op.innerText('h1')).includes('差评整改'), 'the page is titled');
    await opContext.close();

    // --- the waiting room (a zone letting one visitor in a minute) ---------

    let waiting = null;
    for (let i = 0; i < 3 && !waiting; i++) {
        // logged out already: no cookie at all, a newcomer each time
        await context.clearCookies();
        res = await page.goto(`${base}/peak/?visit=${mode}${i}`);
        if ((await page.innerText('body')).includes('排在第')) {
            waiting = res;
        }
    }
    check(waiting && waiting.status() === 200,
          'a visitor past the rate gets the waiting page (200)');
    const wait = await page.innerText('main');
    check(/您现在排在第\s*\d+\s*位/.test(wait), 'it shows the place in line', wait);
    check(wait.includes('预计还要等'), 'and the estimated wait');
    check(await page.$('meta[http-equiv=refresh]') !== null,
          'it refreshes itself, without JavaScript');
    // WCAG 2.2.1 (axe-core's meta-refresh): the page reloads itself by
    // design — CONTRACT section 11, without JavaScript — and the reload is
    // the service (the essential exception); the rest of axe still holds
    await readable('waiting room', ['meta-refresh']);
    await snap('waiting-room');

    check(problems.length === 0, 'no script errors in any page', problems.join(' | '));
    if (js) {
        check(violations.length === 0,
              'no Content-Security-Policy violation in any page', violations.join(' | '));
    }
} catch (e) {
    check(false, 'the journey ran to its end', e.stack || e);
    await snap('failure').catch(() => {});
}

await browser.close();
process.exit(failed ? 1 : 0);
