import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  applyRedemptionPatch,
  DEFAULT_REDEMPTION_RULES,
  pointsValue,
  readRedemptionRules,
} from '../../src/storefront/redemption-rules.js';
import { type AdminHarness, adminHarness } from '../helpers/admin.js';

const SHOP = 'rules-shop.myshopify.com';

function refused(patch: unknown, base = DEFAULT_REDEMPTION_RULES): Record<string, string> {
  try {
    applyRedemptionPatch({ ...base }, patch);
  } catch (err) {
    expect(err).toBeInstanceOf(z.ZodError);
    return Object.fromEntries((err as z.ZodError).issues.map((i) => [i.path.join('.'), i.message]));
  }
  throw new Error(`accepted ${JSON.stringify(patch)}`);
}

describe('pointsValue', () => {
  it('turns points into money in the minor unit, rounding down, without floating point', () => {
    const usd = { pointsPerUnit: 100, currency: 'USD' };
    expect(pointsValue(1240, usd)).toBe('12.40');
    expect(pointsValue(0, usd)).toBe('0.00');
    expect(pointsValue(5, usd)).toBe('0.05');
    expect(pointsValue(1999, { pointsPerUnit: 1000, currency: 'USD' })).toBe('1.99');
    expect(pointsValue(10, { pointsPerUnit: 3, currency: 'USD' })).toBe('3.33');
    expect(pointsValue(9_007_199_254_740_991, { pointsPerUnit: 1, currency: 'USD' })).toBe(
      '9007199254740991.00',
    );
    expect(pointsValue(1240, { pointsPerUnit: 1, currency: 'JPY' })).toBe('1240');
    expect(pointsValue(-5, usd)).toBe('0.00');
  });
});

describe('redemption rules', () => {
  it('default to off, 100 points = 1 unit, codes for 30 days, expired codes give points back', () => {
    expect(readRedemptionRules(undefined)).toEqual({
      enabled: false,
      pointsPerUnit: 100,
      minimumPoints: 500,
      stepPoints: 100,
      maximumPoints: 10_000,
      codeLifetimeDays: 30,
      giveBackExpired: true,
      currency: 'USD',
    });
    expect(readRedemptionRules('not json')).toEqual(DEFAULT_REDEMPTION_RULES);
  });

  it('accept rules at their limits', () => {
    const low = applyRedemptionPatch(
      { ...DEFAULT_REDEMPTION_RULES },
      { pointsPerUnit: 1, minimumPoints: 1, stepPoints: 1, maximumPoints: 1, codeLifetimeDays: 1 },
    );
    expect(low).toMatchObject({ pointsPerUnit: 1, minimumPoints: 1, maximumPoints: 1, codeLifetimeDays: 1 });
    const high = applyRedemptionPatch(
      { ...DEFAULT_REDEMPTION_RULES },
      {
        pointsPerUnit: 1_000_000,
        stepPoints: 10_000_000,
        minimumPoints: 10_000_000,
        maximumPoints: 10_000_000,
      },
    );
    expect(high.maximumPoints).toBe(10_000_000);
    expect(
      applyRedemptionPatch({ ...DEFAULT_REDEMPTION_RULES }, { codeLifetimeDays: 365 }).codeLifetimeDays,
    ).toBe(365);
    expect(applyRedemptionPatch({ ...DEFAULT_REDEMPTION_RULES }, { currency: ' eur ' }).currency).toBe('EUR');
  });

  it('refuse values past their limits, by field', () => {
    expect(refused({ codeLifetimeDays: 0 })).toEqual({ 'redemption.codeLifetimeDays': 'must be at least 1' });
    expect(refused({ codeLifetimeDays: 366 })).toEqual({
      'redemption.codeLifetimeDays': 'must be at most 365',
    });
    expect(refused({ pointsPerUnit: 0 })).toHaveProperty('redemption.pointsPerUnit');
    expect(refused({ stepPoints: 2.5 })).toEqual({ 'redemption.stepPoints': 'must be a whole number' });
    expect(refused({ maximumPoints: 10_000_001 })).toHaveProperty('redemption.maximumPoints');
    expect(refused({ enabled: 'yes' })).toEqual({ 'redemption.enabled': 'must be true or false' });
    expect(refused({ currency: 'dollars' })).toHaveProperty('redemption.currency');
    expect(refused({ colour: 'red' })).toHaveProperty('redemption');
  });

  it('refuse rules that do not fit together once applied to the saved ones', () => {
    expect(refused({ minimumPoints: 2000, maximumPoints: 1000 })).toEqual({
      'redemption.maximumPoints': 'must be at least the minimum',
    });
    // The saved maximum (10,000) is what a lone minimum is checked against.
    expect(refused({ minimumPoints: 20_000 })).toHaveProperty('redemption.maximumPoints');
    expect(refused({ minimumPoints: 250 })).toEqual({
      'redemption.minimumPoints': 'must be a multiple of the step',
    });
    // 3 points per dollar: a step of 100 points is $33.333…, not a whole cent.
    expect(refused({ pointsPerUnit: 3 })).toEqual({
      'redemption.stepPoints': 'must be worth a whole cent (3 points = 1 USD)',
    });
    expect(refused({ currency: 'JPY', pointsPerUnit: 1000, stepPoints: 100, minimumPoints: 1000 })).toEqual({
      'redemption.stepPoints': 'must be worth a whole unit (1000 points = 1 JPY)',
    });
  });
});

describe('redemption rules in the settings API', () => {
  let h: AdminHarness;
  let app: Express;
  const put = (body: object) =>
    request(app)
      .put('/api/settings')
      .set('Authorization', `Bearer ${h.token(SHOP)}`)
      .send(body);

  beforeAll(async () => {
    h = await adminHarness('redemption-settings');
    app = h.app;
  });
  afterAll(async () => {
    await h.teardown();
  });

  it('shows the defaults, saves a change of some fields and keeps the rest', async () => {
    const before = await request(app)
      .get('/api/settings')
      .set('Authorization', `Bearer ${h.token(SHOP)}`);
    expect(before.status).toBe(200);
    expect(before.body.redemption).toEqual(DEFAULT_REDEMPTION_RULES);
    const res = await put({ redemption: { enabled: true, pointsPerUnit: 200, codeLifetimeDays: 7 } });
    expect(res.status).toBe(200);
    expect(res.body.redemption).toEqual({
      ...DEFAULT_REDEMPTION_RULES,
      enabled: true,
      pointsPerUnit: 200,
      codeLifetimeDays: 7,
    });
    expect((await h.deps.settings.get(SHOP)).redemption.pointsPerUnit).toBe(200);
  });

  it('refuses rules that do not fit with a 400 naming the field, and saves nothing of the request', async () => {
    const before = await h.deps.settings.get(SHOP);
    const res = await put({ pointsPerDollar: '5', redemption: { minimumPoints: 950, maximumPoints: 800 } });
    expect(res.status).toBe(400);
    expect(res.body.fields).toEqual({
      'redemption.maximumPoints': 'Maximum points per redemption must be at least the minimum',
      'redemption.minimumPoints': 'Minimum points must be a multiple of the step',
    });
    const after = await h.deps.settings.get(SHOP);
    expect(after.redemption).toEqual(before.redemption);
    expect(after.pointsPerDollar).toBe(before.pointsPerDollar);
  });

  it('refuses a field of the wrong kind together with the other fields', async () => {
    const res = await put({ pointsPerDollar: 'lots', redemption: { codeLifetimeDays: 'a week' } });
    expect(res.status).toBe(400);
    expect(Object.keys(res.body.fields).sort()).toEqual(['pointsPerDollar', 'redemption.codeLifetimeDays']);
  });
});
