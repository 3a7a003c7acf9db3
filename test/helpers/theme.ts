// The theme renderer lives with the other Shopify stand-ins (the demo's storefront preview renders with it).
export * from '../../fakes/shopify/theme.js';
