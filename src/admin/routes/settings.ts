import express from 'express';
import { z } from 'zod';
import type { ITRetailCredentials } from '../../config.js';
import {
  type itretailSettingsSchema,
  itretailSettingsSchemaFor,
  type SettingsPatch,
  type SettingsPolicy,
  settingsPatchSchemaFor,
} from '../../settings.js';
import type { ConnectionTarget } from '../itretail-access.js';
import type { SectionContext } from './context.js';
import { BadRequest, badRequestOf, fieldsOf, route, summary } from './http.js';

/**
 * Settings: read, save (validated completely before anything is saved) and "Test connection" with what is
 * typed. `itretail: { keep: true, baseUrl? }` keeps the saved sign-in and changes only the base URL.
 */

type ItretailForm = z.infer<typeof itretailSettingsSchema>;
/** The saved credentials with another base URL (`baseUrl` undefined: the server's default). */
type KeepForm = { keep: true; baseUrl?: string };

const NOT_AN_OBJECT = 'IT Retail connection must be {baseUrl?, username, password} or {baseUrl?, token}.';

/** IT Retail credentials from the page: a username/password pair or a token, each with an optional base URL. */
function parseItretail(value: unknown, policy: SettingsPolicy): ItretailForm | KeepForm {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadRequest('IT Retail connection must be an object.', { itretail: NOT_AN_OBJECT });
  }
  const [passwordForm, tokenForm] = itretailSettingsSchemaFor(policy).options;
  if ('keep' in value) {
    const { keep, ...rest } = value as { keep: unknown };
    if (keep !== true) throw new BadRequest(NOT_AN_OBJECT, { itretail: NOT_AN_OBJECT });
    const parsed = passwordForm.pick({ baseUrl: true }).strict().safeParse(rest);
    if (!parsed.success) throw badRequestOf(parsed.error, ['itretail']);
    return { keep: true, baseUrl: parsed.data.baseUrl };
  }
  const form = 'token' in value ? tokenForm : passwordForm;
  const parsed = form.safeParse(value);
  if (!parsed.success) throw badRequestOf(parsed.error, ['itretail']);
  return parsed.data;
}

type ParsedPatch = Omit<SettingsPatch, 'itretail'> & { itretail?: ItretailForm | KeepForm | null };

/** Validates a PUT /api/settings body completely before anything is saved. */
function parseSettingsPatch(body: unknown, policy: SettingsPolicy): ParsedPatch {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequest('Send the settings as a JSON object.', {
      body: 'Send the settings as a JSON object.',
    });
  }
  const { itretail, ...rest } = body as Record<string, unknown>;
  const fields: Record<string, string> = {};
  const parsed = settingsPatchSchemaFor(policy).safeParse(rest);
  if (!parsed.success) Object.assign(fields, fieldsOf(parsed.error));
  let creds: ParsedPatch['itretail'];
  if (itretail === null) creds = null;
  else if (itretail !== undefined) {
    try {
      creds = parseItretail(itretail, policy);
    } catch (err) {
      if (err instanceof BadRequest) Object.assign(fields, err.fields);
      else throw err;
    }
  }
  if (Object.keys(fields).length || !parsed.success) throw new BadRequest(summary(fields), fields);
  return { ...parsed.data, ...(itretail !== undefined ? { itretail: creds } : {}) };
}

function formOf(c: ITRetailCredentials, baseUrl: string | undefined): ItretailForm {
  return c.kind === 'token'
    ? { baseUrl, token: c.token ?? '' }
    : { baseUrl, username: c.username ?? '', password: c.password ?? '' };
}

export function settingsRouter(ctx: SectionContext): express.Router {
  const { settings, itretail, logger, settingsPolicy } = ctx;
  const router = express.Router();

  /** "Keep what is saved": the shop's saved sign-in under the typed base URL. */
  async function resolveKeep(shop: string, form: ItretailForm | KeepForm): Promise<ItretailForm> {
    if (!('keep' in form)) return form;
    const saved = (await settings.get(shop)).itretail;
    if (!saved) {
      const msg = 'No IT Retail sign-in is saved for this shop yet: enter a username and password.';
      throw new BadRequest(msg, { itretail: msg });
    }
    return formOf(saved.credentials, form.baseUrl);
  }

  router.get(
    '/settings',
    route(async (_req, _res, shop) => settings.publicView(shop)),
  );

  router.put(
    '/settings',
    route(async (req, _res, shop) => {
      const { itretail: form, ...rest } = parseSettingsPatch(req.body, settingsPolicy);
      const patch: SettingsPatch = rest;
      if (form !== undefined) patch.itretail = form === null ? null : await resolveKeep(shop, form);
      try {
        await settings.update(shop, patch);
      } catch (err) {
        // Redemption rules that do not fit together once applied to the saved ones (e.g. minimum > maximum).
        if (!(err instanceof z.ZodError)) throw err;
        throw badRequestOf(err);
      }
      logger.info({ shop, fields: Object.keys(patch) }, 'settings changed');
      return settings.publicView(shop);
    }),
  );

  router.post(
    '/settings/test-connection',
    route(async (req, _res, shop) => {
      const body = (req.body ?? {}) as { itretail?: unknown };
      let target: ConnectionTarget | undefined = await itretail.targetFor(shop);
      if (body.itretail !== undefined && body.itretail !== null) {
        const form = parseItretail(body.itretail, settingsPolicy);
        const c = await resolveKeep(shop, form);
        // Typed credentials without a URL are tried where the saved ones go; "keep" says its URL itself.
        const fallback = 'keep' in form ? undefined : (await settings.get(shop)).itretail?.baseUrl;
        target = {
          baseUrl: c.baseUrl ?? fallback ?? ctx.config.itretail.baseUrl,
          credentials:
            'token' in c
              ? { kind: 'token', token: c.token }
              : { kind: 'password', username: c.username, password: c.password },
        };
      }
      if (!target) {
        return { ok: false, message: 'Enter a username and password (or an API token) first.' };
      }
      return itretail.test(target);
    }),
  );

  return router;
}
