import { CUSTOMERS_COUNT_QUERY, CUSTOMERS_QUERY } from './graphql.js';
import {
  DISCOUNT_BY_CODE_QUERY,
  DISCOUNT_CREATE_MUTATION,
  DISCOUNT_DEACTIVATE_MUTATION,
  METAFIELDS_SET_MUTATION,
} from './loyalty-documents.js';
import { ORDER_LINES_QUERY, ORDERS_UPDATED_QUERY, REFUND_QUERY } from './orders-query.js';

/**
 * Every GraphQL document the app sends to the Admin API, by operation name. A test validates each one
 * against Shopify's schema for the configured API version (and checks that no document in src/ is missing
 * from this list); add new queries and mutations here.
 */
export const ADMIN_DOCUMENTS: Readonly<Record<string, string>> = Object.freeze({
  LinkExistingCustomers: CUSTOMERS_QUERY,
  CustomersCount: CUSTOMERS_COUNT_QUERY,
  CatchUpOrders: ORDERS_UPDATED_QUERY,
  CatchUpRefund: REFUND_QUERY,
  CatchUpOrderLines: ORDER_LINES_QUERY,
  LoyaltyPointsMetafieldsSet: METAFIELDS_SET_MUTATION,
  RedeemPointsCreateCode: DISCOUNT_CREATE_MUTATION,
  RedeemedCodeByCode: DISCOUNT_BY_CODE_QUERY,
  RedeemedCodeDeactivate: DISCOUNT_DEACTIVATE_MUTATION,
});
