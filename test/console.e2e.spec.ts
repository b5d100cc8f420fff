import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import request from 'supertest';
import { launchChromium } from './support/browser';
import { as, loginAs, newUser, profileStatus, TestUser } from './support/sessions';
import { ADMIN, createTestApp, LoggedIn, login, STORE_KINDS, TestApp } from './support/test-app';

/**
 * The admin console in a real browser (Debian's chromium through playwright-core), against the
 * service as main.ts builds it, on a real port, on each store. What the page shows is checked
 * against what the API says.
 */

const WAIT_MS = 10_000;
// A browser test waits for pages and the console's own refreshes: more than jest's default.
jest.setTimeout(60_000);

/** Polls `read` until it returns `expected` (the console refreshes on its own), else fails with the last value. */
async function until<T>(read: () => Promise<T>, expected: T, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (JSON.stringify(last) === JSON.stringify(expected)) return;
    if (Date.now() > deadline) {
      throw new Error(`${what}: expected ${JSON.stringify(expected)}, last saw ${JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The figure of a `<dt>label</dt><dd>n</dd>` pair. */
function figure(page: Page, label: string): Locator {
  return page.locator('dt', { hasText: new RegExp(`^${label}$`) }).locator('xpath=following-sibling::dd[1]');
}

/** The focused element, and whether it shows an outline or a ring (run in the page: DOM types are not this program's). */
const FOCUSED = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const outlined = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  return { text: (el.textContent || '').trim(), tag: el.tagName, visible: outlined || style.boxShadow !== 'none' };
})()`;

const heading = (page: Page, name: string): Locator => page.getByRole('heading', { level: 1, name, exact: true });

describe.each(STORE_KINDS)('the admin console in chromium (%s store)', (store) => {
  let t: TestApp;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let admin: LoggedIn;
  /** What the page printed as errors: CSP violations, script errors. */
  let problems: string[];

  beforeAll(async () => {
    t = await createTestApp({ store });
    await new Promise<void>((resolve) => t.http.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(t.http.address() as AddressInfo).port}`;
    browser = await launchChromium();
    admin = await login(t.http);
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    problems = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      // A signed-out start answers GET /auth/csrf with 401, which chromium prints as a failed load.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
        problems.push(message.text());
      }
    });
  });
  afterEach(async () => {
    await context.close();
    // Nothing blocked by the Content-Security-Policy, no script error, on any test's pages.
    expect(problems).toEqual([]);
  });

  async function signIn(who: { username: string; password: string } = ADMIN): Promise<void> {
    await page.goto(`${base}/console`);
    await page.getByLabel('Username').fill(who.username);
    await page.getByLabel('Password').fill(who.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  async function go(link: string): Promise<void> {
    await page.getByRole('navigation').getByRole('link', { name: link, exact: true }).click();
    await heading(page, link).waitFor();
  }

  it('signs in and shows the overview figures the API gives, refreshed without a reload', async () => {
    await signIn();
    await heading(page, 'Overview').waitFor();

    const stats = async () =>
      (await as(t.http, admin).get('/admin/sessions/stats').expect(200)).body as {
        total: number;
        activeLast5m: number;
        activeLast15m: number;
        byRole: Record<string, number>;
      };
    let now = await stats();
    await until(() => figure(page, 'Live sessions').innerText(), String(now.total), 'live sessions');
    expect(await figure(page, 'Active in the last 5 minutes').innerText()).toBe(String(now.activeLast5m));
    expect(await figure(page, 'Active in the last 15 minutes').innerText()).toBe(String(now.activeLast15m));
    expect(await figure(page, 'admin').innerText()).toBe(String(now.byRole.admin));

    // A login elsewhere shows up at the next refresh, without reloading the page.
    const loads: string[] = [];
    page.on('framenavigated', (frame) => loads.push(frame.url()));
    const user = await newUser(t.http, admin);
    await loginAs(t.http, user);
    now = await stats();
    await until(() => figure(page, 'Live sessions').innerText(), String(now.total), 'live sessions after a login');
    expect(loads).toEqual([]);
  });

  it("ends another user's session from the table: that cookie is refused at once and the audit log shows it", async () => {
    const bob = await newUser(t.http, admin);
    const bobs = await loginAs(t.http, bob, { deviceId: 'bobs-laptop' });
    expect(await profileStatus(t.http, bobs.cookie)).toBe(200);
    await signIn();
    await heading(page, 'Overview').waitFor();
    await go('Sessions');

    const end = page.getByRole('button', { name: `End session of ${bob.username} on bobs-laptop` });
    await end.click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    // Gone from the table without a reload.
    await end.waitFor({ state: 'detached' });

    expect(await profileStatus(t.http, bobs.cookie)).toBe(401);

    await go('Audit log');
    const row = page
      .getByRole('row')
      .filter({ hasText: 'Session ended by revocation' })
      .filter({ hasText: `a session of ${bob.username}` });
    await row.first().waitFor();
    expect(await row.count()).toBe(1);
    expect(await row.getByRole('cell').nth(1).innerText()).toBe('admin');
  });

  it('creates a user, then disables it: the API refuses its login', async () => {
    await signIn();
    await heading(page, 'Overview').waitFor();
    await go('Users');
    const name = `carol-${Date.now().toString(36)}`;
    await page.getByLabel('Username').fill(name);
    await page.getByLabel('Password', { exact: true }).fill('carol-password-1');
    await page.getByRole('button', { name: 'Create user' }).click();

    const disable = page.getByRole('button', { name: `Disable ${name}`, exact: true });
    await disable.waitFor();
    const users = async () =>
      (
        (await as(t.http, admin).get('/admin/users?limit=1000').expect(200)).body as {
          users: { username: string; disabled: boolean; roles: string[] }[];
        }
      ).users.find((u) => u.username === name);
    expect(await users()).toMatchObject({ disabled: false, roles: ['user'] });
    await loginAs(t.http, { username: name, password: 'carol-password-1' });

    await disable.click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('button', { name: `Enable ${name}`, exact: true }).waitFor();
    expect(await users()).toMatchObject({ disabled: true });
    await request(t.http).post('/auth/login').send({ username: name, password: 'carol-password-1' }).expect(401);
  });

  it("impersonates a user: a banner over the user's own sessions, then back to the console", async () => {
    const dave = await newUser(t.http, admin);
    const daves = await loginAs(t.http, dave, { deviceId: 'daves-phone' });
    await signIn();
    await heading(page, 'Overview').waitFor();
    await go('Users');
    await page.getByRole('button', { name: `Impersonate ${dave.username}`, exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();

    const banner = page.getByRole('banner');
    await banner.getByText(`are acting as ${dave.username}`).waitFor();
    await heading(page, 'My sessions').waitFor();
    // Dave's sessions as Dave sees them: his phone, and this one, marked with the admin.
    await page.getByRole('button', { name: 'End session on daves-phone' }).waitFor();
    await page.getByRole('row').filter({ hasText: 'This session' }).getByText('impersonated by admin').waitFor();
    expect(await page.getByRole('navigation').count()).toBe(0);
    const audit = async (type: string) =>
      (
        (await as(t.http, admin).get(`/admin/audit?type=${type}&userId=${dave.id}`).expect(200)).body as {
          events: { actor: { username: string } }[];
        }
      ).events;
    expect((await audit('impersonation_started')).map((e) => e.actor.username)).toEqual(['admin']);

    await banner.getByRole('button', { name: 'End impersonation' }).click();
    await heading(page, 'Users').waitFor();
    await page.getByRole('navigation').getByRole('link', { name: 'Users' }).waitFor();
    expect((await audit('impersonation_ended')).map((e) => e.actor.username)).toEqual(['admin']);
    expect(await profileStatus(t.http, daves.cookie)).toBe(200);
  });

  it('tells a non-admin the console is for admins and shows none of it', async () => {
    const user: TestUser = await newUser(t.http, admin);
    await signIn(user);
    await page.getByText('This console is for admins').waitFor();
    expect(await page.getByRole('link', { name: 'Sessions', exact: true }).count()).toBe(0);
    expect(await heading(page, 'Overview').count()).toBe(0);
  });

  it('says what went wrong with a wrong password', async () => {
    await signIn({ username: ADMIN.username, password: 'not-the-password' });
    await page.getByRole('alert').filter({ hasText: 'Invalid credentials' }).waitFor();
    expect(await heading(page, 'Overview').count()).toBe(0);
  });

  it('signs in and moves around with the keyboard alone, every stop with a visible focus', async () => {
    await page.goto(`${base}/console`);
    // Once the page has found there is no session, the first field has the focus: type, Tab, type, Enter.
    await until(
      () => page.evaluate<string>('document.activeElement?.getAttribute("autocomplete") ?? ""'),
      'username',
      'focus',
    );
    await page.keyboard.type(ADMIN.username);
    await page.keyboard.press('Tab');
    await page.keyboard.type(ADMIN.password);
    await page.keyboard.press('Enter');
    await heading(page, 'Overview').waitFor();

    // Tab to the Users link and follow it with Enter; every stop on the way has a visible focus.
    for (let i = 0; i < 30; i++) {
      await page.keyboard.press('Tab');
      const focused = await page.evaluate<{ text: string; tag: string; visible: boolean } | null>(FOCUSED);
      // Past the last control the focus leaves the page (the browser's own UI) before it comes back.
      if (focused === null) continue;
      expect(focused).toEqual({ ...focused, visible: true });
      if (focused?.tag === 'A' && focused.text === 'Users') break;
    }
    await page.keyboard.press('Enter');
    await heading(page, 'Users').waitFor();
  });

  /**
   * Past REAUTH_WINDOW (300 s) since the browser's login, ending bob's session from the table: the
   * service refuses it (reauthentication_required) and the console asks for the password, then
   * retries. Moving the clock also ages the API `admin` session: it signs in again afterwards.
   */
  async function endPastTheWindow(bob: TestUser, device: string): Promise<Locator> {
    await signIn();
    await heading(page, 'Overview').waitFor();
    await go('Sessions');
    t.clock.advance(301_000);
    await page.getByRole('button', { name: `End session of ${bob.username} on ${device}` }).click();
    await page.getByRole('dialog', { name: 'End this session?' }).getByRole('button', { name: 'Confirm' }).click();
    const prompt = page.getByRole('dialog', { name: 'Confirm your password' });
    await prompt.waitFor();
    await prompt.getByText('you last proved it more than 5 minutes ago').waitFor();
    // Focus is in its field, ready for typing.
    await until(
      () => page.evaluate<string>('document.activeElement?.getAttribute("autocomplete") ?? ""'),
      'current-password',
      'focus in the password prompt',
    );
    return prompt;
  }

  it('asks for the password again past the re-authentication window, then ends the session', async () => {
    const bob = await newUser(t.http, admin);
    const bobs = await loginAs(t.http, bob, { deviceId: 'bobs-tablet' });
    try {
      const prompt = await endPastTheWindow(bob, 'bobs-tablet');

      await prompt.getByLabel('Password').fill('not-the-password');
      await prompt.getByRole('button', { name: 'Confirm' }).click();
      await prompt.getByRole('alert').filter({ hasText: 'Password is incorrect' }).waitFor();
      expect(await prompt.isVisible()).toBe(true);
      expect(await profileStatus(t.http, bobs.cookie)).toBe(200);

      await prompt.getByLabel('Password').fill(ADMIN.password);
      await prompt.getByRole('button', { name: 'Confirm' }).click();
      // The refused call was retried: the row is gone, both dialogs closed, the page says what happened.
      const end = page.getByRole('button', { name: `End session of ${bob.username} on bobs-tablet` });
      await end.waitFor({ state: 'detached' });
      await page
        .getByRole('status')
        .filter({ hasText: `Ended the session of ${bob.username}` })
        .waitFor();
      expect(await page.getByRole('dialog').count()).toBe(0);
      expect(await profileStatus(t.http, bobs.cookie)).toBe(401);
    } finally {
      admin = await login(t.http);
    }
  });

  it('leaves the session alone when the password prompt is cancelled, and says so', async () => {
    const bob = await newUser(t.http, admin);
    const bobs = await loginAs(t.http, bob, { deviceId: 'bobs-desktop' });
    try {
      const prompt = await endPastTheWindow(bob, 'bobs-desktop');
      await prompt.getByRole('button', { name: 'Cancel' }).click();
      await prompt.waitFor({ state: 'detached' });

      // The confirmation it came from shows why nothing happened, and keeps the focus.
      const confirmation = page.getByRole('dialog', { name: 'End this session?' });
      await confirmation.getByRole('alert').filter({ hasText: 'Not done: the password was not confirmed.' }).waitFor();
      await until(
        () =>
          page.evaluate<string>(
            'document.activeElement?.closest("dialog[open]") ? document.activeElement.textContent : ""',
          ),
        'Confirm',
        'focus back on the confirming button',
      );
      expect(await profileStatus(t.http, bobs.cookie)).toBe(200);
      await confirmation.getByRole('button', { name: 'Cancel' }).click();
      await page.getByRole('button', { name: `End session of ${bob.username} on bobs-desktop` }).waitFor();
    } finally {
      admin = await login(t.http);
    }
  });

  it('asks for the password before ending all my other sessions past the window', async () => {
    const elsewhere = await login(t.http, { ...ADMIN, deviceId: 'admins-phone' });
    try {
      await signIn();
      await heading(page, 'Overview').waitFor();
      await go('My sessions');
      t.clock.advance(301_000);
      await page.getByRole('button', { name: 'End all other sessions' }).click();
      await page
        .getByRole('dialog', { name: 'End all your other sessions?' })
        .getByRole('button', { name: 'Confirm' })
        .click();
      const prompt = page.getByRole('dialog', { name: 'Confirm your password' });
      await prompt.getByLabel('Password').fill(ADMIN.password);
      await page.keyboard.press('Enter');
      await page
        .getByRole('status')
        .filter({ hasText: /^Ended \d+ other sessions?\.$/ })
        .waitFor();
      expect(await page.getByRole('dialog').count()).toBe(0);
      expect(await profileStatus(t.http, elsewhere.cookie)).toBe(401);
    } finally {
      admin = await login(t.http);
    }
  });

  it('fits a narrow screen and 200% zoom without the page scrolling sideways', async () => {
    await signIn();
    await heading(page, 'Overview').waitFor();
    for (const viewport of [
      { width: 380, height: 800 },
      { width: 640, height: 400 }, // 1280x800 at 200% zoom
    ]) {
      await page.setViewportSize(viewport);
      for (const link of ['Sessions', 'Users', 'Audit log', 'Overview']) {
        await page.goto(`${base}/console/${link === 'Overview' ? '' : link.toLowerCase().replace(' log', '')}`);
        await heading(page, link).waitFor();
        const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
        expect({ link, viewport, overflow: overflow > 1 }).toEqual({ link, viewport, overflow: false });
      }
    }
  });
});
