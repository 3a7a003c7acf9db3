import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Liquid, Tag, type TagToken, type TopLevelToken } from 'liquidjs';

/**
 * Renders the theme app extension's blocks with liquidjs, the way a Shopify theme would: snippets from
 * `snippets/`, the `t` filter from `locales/en.default.json`, `{% schema %}` rendering nothing, and the
 * block's settings defaulting to the schema's `default`s (as when a merchant adds the block).
 */

export const EXTENSION_DIR = fileURLToPath(new URL('../../extensions/loyalty-balance/', import.meta.url));

export interface BlockSchema {
  name: string;
  target: string;
  stylesheet?: string;
  javascript?: string;
  settings: { type: string; id: string; label: string; default?: unknown }[];
  [k: string]: unknown;
}

function blockSource(name: string): string {
  return readFileSync(`${EXTENSION_DIR}blocks/${name}.liquid`, 'utf8');
}

/** The block's `{% schema %}` JSON. */
export function blockSchema(name = 'loyalty-balance'): BlockSchema {
  const m = /{%-?\s*schema\s*-?%}([\s\S]*?){%-?\s*endschema\s*-?%}/.exec(blockSource(name));
  if (!m?.[1]) throw new Error(`blocks/${name}.liquid has no {% schema %}`);
  return JSON.parse(m[1]) as BlockSchema;
}

function lookup(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
}

function engine(): Liquid {
  const locale = JSON.parse(readFileSync(`${EXTENSION_DIR}locales/en.default.json`, 'utf8'));
  const liquid = new Liquid({
    root: [`${EXTENSION_DIR}snippets`],
    partials: [`${EXTENSION_DIR}snippets`],
    extname: '.liquid',
    strictFilters: true,
    // Shopify renders a missing variable as nothing.
    strictVariables: false,
  });
  liquid.registerFilter('t', (key: string) => {
    const v = lookup(locale, key);
    if (typeof v !== 'string') throw new Error(`translation missing: ${key}`);
    return v;
  });
  liquid.registerTag(
    'schema',
    class extends Tag {
      constructor(token: TagToken, remain: TopLevelToken[], l: Liquid) {
        super(token, remain, l);
        // Skip everything up to {% endschema %}: Shopify reads it, and renders nothing.
        while (remain.length) {
          const t = remain.shift() as TopLevelToken & { name?: string };
          if (t.name === 'endschema') return;
        }
        throw new Error('{% schema %} without {% endschema %}');
      }
      *render() {}
    },
  );
  return liquid;
}

export interface RenderOptions {
  /** Signed in: the Liquid `customer` (with `metafields`); undefined: a signed-out visitor. */
  customer?: Record<string, unknown>;
  /** Theme-editor settings over the schema's defaults. */
  settings?: Record<string, unknown>;
}

/** The block as a theme renders it. */
export async function renderBlock(o: RenderOptions = {}, name = 'loyalty-balance'): Promise<string> {
  const defaults = Object.fromEntries(blockSchema(name).settings.map((s) => [s.id, s.default]));
  return engine().parseAndRender(blockSource(name), {
    customer: o.customer,
    block: { id: 'block-1', settings: { ...defaults, ...o.settings }, shopify_attributes: '' },
    routes: { account_login_url: '/account/login', cart_url: '/cart', root_url: '/' },
  });
}

/** A signed-in customer whose app-owned loyalty_points metafield holds `points` (or none). */
export function customerWithPoints(points: number | undefined, id = 7001): Record<string, unknown> {
  return {
    id,
    email: 'ada@example.com',
    metafields: {
      $app: points === undefined ? {} : { loyalty_points: { value: points, type: 'number_integer' } },
    },
  };
}

/** The visible text of rendered HTML: tags removed, entities of the escape filter decoded, spaces collapsed. */
export function textOf(html: string): string {
  return html
    .replace(/<script[\s\S]*?<\/script>/g, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}
