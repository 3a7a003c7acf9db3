import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { check } from '@shopify/theme-check-node';
import { describe, expect, it } from 'vitest';
import { blockSchema, customerWithPoints, EXTENSION_DIR, renderBlock, textOf } from '../helpers/theme.js';

/** The text of the element carrying `marker` (a class or data attribute) up to its closing tag. */
function part(html: string, marker: string, tag = 'p'): string {
  const start = html.indexOf(marker);
  expect(start, `${marker} rendered`).toBeGreaterThanOrEqual(0);
  const from = html.lastIndexOf(`<${tag}`, start);
  return textOf(html.slice(from, html.indexOf(`</${tag}>`, start) + tag.length + 3));
}

describe('the loyalty balance block rendered by a Liquid engine', () => {
  it('shows a signed-in customer the balance from the metafield, and the Redeem control', async () => {
    const html = await renderBlock({ customer: customerWithPoints(1240) });
    expect(part(html, 'itrb-loyalty__balance')).toMatch(/^You have 1,240 points — worth$/);
    expect(textOf(html)).toMatch(/^Your points You have 1,240 points/);
    expect(html).toContain('data-signed-in="true"');
    expect(html).toContain('data-proxy-url="/apps/loyalty"');
    // The value arrives with the live balance: its place is there, hidden until then.
    expect(html).toMatch(/data-itrb-value-text hidden/);
    expect(html).toMatch(/<form class="itrb-loyalty__redeem" data-itrb-redeem hidden>/);
    expect(part(html, 'itrb-loyalty__button', 'button')).toBe('Redeem');
    expect(html).not.toContain('/account/login');
  });

  it('shows a signed-out visitor only a sign-in prompt', async () => {
    const html = await renderBlock({ customer: undefined });
    expect(textOf(html)).toBe('Your points Sign in to see your points and spend them here. Sign in');
    expect(html).toContain('<a href="/account/login">Sign in</a>');
    expect(html).toContain('data-signed-in="false"');
    expect(html).not.toMatch(/data-itrb-redeem|data-itrb-points|You have/);
  });

  it('formats large balances and shows 0 when the metafield has not been written yet', async () => {
    expect(
      part(await renderBlock({ customer: customerWithPoints(1234567) }), 'itrb-loyalty__balance'),
    ).toContain('You have 1,234,567 points');
    expect(part(await renderBlock({ customer: customerWithPoints(999) }), 'itrb-loyalty__balance')).toContain(
      'You have 999 points',
    );
    expect(
      part(await renderBlock({ customer: customerWithPoints(undefined) }), 'itrb-loyalty__balance'),
    ).toContain('You have 0 points');
  });

  it('uses the text and colours set in the theme editor, escaping what the merchant typed', async () => {
    const html = await renderBlock({
      customer: customerWithPoints(1240),
      settings: {
        heading: 'Rewards <3',
        balance_text: '[points] pts in your <b>wallet</b>',
        value_text: '(= [value])',
        redeem_label: 'Spend',
        text_color: '#112233',
        background_color: '#ffeedd',
        accent_color: '#aa0000',
      },
    });
    expect(html).toContain('Rewards &lt;3');
    expect(html).not.toContain('<b>wallet</b>');
    expect(part(html, 'itrb-loyalty__balance')).toBe('1,240 pts in your <b>wallet</b> (= )');
    expect(html).toContain('--itrb-text: #112233; --itrb-background: #ffeedd; --itrb-accent: #aa0000;');
    expect(part(html, 'itrb-loyalty__button', 'button')).toBe('Spend');
  });

  it('declares an app block for the account page and the cart with its assets and editor settings', () => {
    const schema = blockSchema();
    expect(schema).toMatchObject({
      target: 'section',
      stylesheet: 'loyalty-balance.css',
      javascript: 'loyalty-balance.js',
      enabled_on: { templates: ['customers/account', 'cart'] },
    });
    const ids = schema.settings.map((s) => `${s.id}:${s.type}`);
    expect(ids).toEqual(
      expect.arrayContaining([
        'balance_text:text',
        'signin_text:text',
        'text_color:color',
        'accent_color:color',
      ]),
    );
    const toml = readFileSync(join(EXTENSION_DIR, 'shopify.extension.toml'), 'utf8');
    expect(toml).toMatch(/^type = "theme"$/m);
  });
});

describe("Shopify's theme checker", () => {
  const config = join(EXTENSION_DIR, '.theme-check.yml');

  it('finds nothing to report in the extension', async () => {
    const offenses = await check(EXTENSION_DIR, config);
    expect(offenses.map((o) => `${o.uri.split('/').slice(-2).join('/')}: ${o.check} ${o.message}`)).toEqual(
      [],
    );
  });

  it('does report mistakes (it really checks this extension)', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'itrb-theme-'));
    try {
      cpSync(EXTENSION_DIR, copy, { recursive: true });
      const block = join(copy, 'blocks', 'loyalty-balance.liquid');
      writeFileSync(
        block,
        `{{ 'loyalty.no_such_text' | t }}{% render 'no-such-snippet' %}\n${readFileSync(block, 'utf8')}`,
      );
      const found = (await check(copy, join(copy, '.theme-check.yml'))).map((o) => o.check).sort();
      expect(found).toEqual(['MissingTemplate', 'TranslationKeyExists']);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
