import type { ShopifyAdminFake } from './admin.js';

/**
 * The storefront side of the Admin API stand-in: customer metafields (`metafieldsSet`) and basic discount
 * codes (`discountCodeBasicCreate`, `codeDiscountNodeByCode`, `discountCodeDeactivate`), kept in memory,
 * answering as Shopify does (at most 25 metafields per call, a taken code answers TAKEN). Tests steer it:
 * `refuseMetafield(ownerId)` answers a userError for that owner, `refuseNextCode` a userError for the next
 * create, `useCode(code)` counts a use.
 */

export interface FakeMetafield {
  ownerId: string;
  namespace: string;
  key: string;
  type: string;
  value: string;
  updatedAt: number;
}

export interface FakeDiscount {
  id: string;
  code: string;
  title: string;
  customers: string[];
  amount: string;
  startsAt: string;
  endsAt: string | null;
  usageLimit: number | null;
  appliesOncePerCustomer: boolean;
  status: 'ACTIVE' | 'EXPIRED' | 'SCHEDULED';
  usageCount: number;
}

export interface LoyaltyFake {
  /** `${ownerId}|${namespace}|${key}` → metafield. */
  metafields: Map<string, FakeMetafield>;
  discounts: Map<string, FakeDiscount>;
  /** Sizes of every metafieldsSet call that ran. */
  metafieldCalls: number[];
  /** Metafield writes of each owner, in order (values). */
  history: Map<string, string[]>;
  refuseMetafield(ownerId: string, message?: string): void;
  refuseNextCode(message?: string, code?: string): void;
  useCode(code: string): void;
  pointsOf(customerId: string): number | undefined;
  /** Called after each metafieldsSet (the benchmark times the moment a balance lands). */
  onSet?: (m: FakeMetafield) => void;
}

let seq = 1000;

export function installLoyaltyApi(fake: ShopifyAdminFake): LoyaltyFake {
  const refused = new Map<string, string>();
  const codeRefusals: { message: string; code: string }[] = [];
  const state: LoyaltyFake = {
    metafields: new Map(),
    discounts: new Map(),
    metafieldCalls: [],
    history: new Map(),
    refuseMetafield(ownerId, message = 'Owner does not exist') {
      refused.set(ownerId, message);
    },
    refuseNextCode(message = 'Discount could not be created', code = 'INVALID') {
      codeRefusals.push({ message, code });
    },
    useCode(code) {
      const d = state.discounts.get(code.toUpperCase());
      if (d) d.usageCount++;
    },
    pointsOf(customerId) {
      const m = state.metafields.get(`gid://shopify/Customer/${customerId}|$app|loyalty_points`);
      return m ? Number(m.value) : undefined;
    },
  };

  fake.handle(
    'metafieldsSet',
    (args) => {
      const list = (args.metafields ?? []) as Omit<FakeMetafield, 'updatedAt'>[];
      if (list.length > 25) {
        return {
          metafields: [],
          userErrors: [
            {
              field: ['metafields'],
              message: 'Exceeded the maximum metafields input limit of 25.',
              code: 'LESS_THAN_OR_EQUAL_TO',
              elementIndex: null,
            },
          ],
        };
      }
      const userErrors: unknown[] = [];
      list.forEach((m, i) => {
        const why = refused.get(m.ownerId);
        if (why)
          userErrors.push({
            field: ['metafields', String(i), 'ownerId'],
            message: why,
            code: 'INVALID',
            elementIndex: i,
          });
        else if (m.type === 'number_integer' && !/^-?\d+$/.test(m.value)) {
          userErrors.push({
            field: ['metafields', String(i), 'value'],
            message: 'Value must be an integer.',
            code: 'INVALID_VALUE',
            elementIndex: i,
          });
        }
      });
      // Shopify sets none of them when any is refused (the call is atomic).
      if (userErrors.length) return { metafields: [], userErrors };
      state.metafieldCalls.push(list.length);
      const out = list.map((m) => {
        const v: FakeMetafield = { ...m, updatedAt: Date.now() };
        state.metafields.set(`${m.ownerId}|${m.namespace}|${m.key}`, v);
        state.history.set(m.ownerId, [...(state.history.get(m.ownerId) ?? []), m.value]);
        state.onSet?.(v);
        return {
          key: m.key,
          namespace: m.namespace,
          value: m.value,
          owner: { __typename: 'Customer', id: m.ownerId },
        };
      });
      return { metafields: out, userErrors: [] };
    },
    'mutation',
  );

  const nodeView = (d: FakeDiscount) => ({
    id: d.id,
    codeDiscount: {
      __typename: 'DiscountCodeBasic',
      title: d.title,
      asyncUsageCount: d.usageCount,
      status: d.endsAt && Date.parse(d.endsAt) < Date.now() ? 'EXPIRED' : d.status,
      endsAt: d.endsAt,
    },
  });

  fake.handle(
    'discountCodeBasicCreate',
    (args) => {
      const input = args.basicCodeDiscount as Record<string, unknown>;
      const code = String(input.code ?? '').toUpperCase();
      const refusal = codeRefusals.shift();
      if (refusal) {
        return {
          codeDiscountNode: null,
          userErrors: [{ field: ['basicCodeDiscount'], message: refusal.message, code: refusal.code }],
        };
      }
      if (!code)
        return {
          codeDiscountNode: null,
          userErrors: [
            { field: ['basicCodeDiscount', 'code'], message: "Code can't be blank", code: 'BLANK' },
          ],
        };
      if (state.discounts.has(code)) {
        return {
          codeDiscountNode: null,
          userErrors: [
            {
              field: ['basicCodeDiscount', 'code'],
              message: 'Code must be unique. Please try a different code.',
              code: 'TAKEN',
            },
          ],
        };
      }
      const ctx = input.context as { customers?: { add?: string[] } } | undefined;
      const gets = input.customerGets as { value?: { discountAmount?: { amount?: string } } } | undefined;
      const d: FakeDiscount = {
        id: `gid://shopify/DiscountCodeNode/${++seq}`,
        code,
        title: String(input.title ?? ''),
        customers: ctx?.customers?.add ?? [],
        amount: String(gets?.value?.discountAmount?.amount ?? '0'),
        startsAt: String(input.startsAt ?? new Date().toISOString()),
        endsAt: (input.endsAt as string | undefined) ?? null,
        usageLimit: (input.usageLimit as number | undefined) ?? null,
        appliesOncePerCustomer: input.appliesOncePerCustomer === true,
        status: 'ACTIVE',
        usageCount: 0,
      };
      state.discounts.set(code, d);
      return { codeDiscountNode: { id: d.id }, userErrors: [] };
    },
    'mutation',
  );

  fake.handle('codeDiscountNodeByCode', (args) => {
    const d = state.discounts.get(String(args.code ?? '').toUpperCase());
    return d ? nodeView(d) : null;
  });

  fake.handle(
    'discountCodeDeactivate',
    (args) => {
      const d = [...state.discounts.values()].find((x) => x.id === args.id);
      if (!d)
        return {
          codeDiscountNode: null,
          userErrors: [{ field: ['id'], message: 'Discount does not exist', code: 'INVALID' }],
        };
      d.status = 'EXPIRED';
      return { codeDiscountNode: { id: d.id }, userErrors: [] };
    },
    'mutation',
  );
  return state;
}
