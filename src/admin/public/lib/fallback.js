// @ts-check
// When polaris.js cannot load (no internet, a blocked CDN — and in the tests), the page defines small
// stand-ins for the Polaris form elements it uses, with the same names, attributes, properties and events
// (value / checked, input / change, click), built from native controls. The views code against Polaris's
// API only; app.css lays out these and every other element Polaris would have drawn.

let uid = 0;

class FallbackField extends HTMLElement {
  static observedAttributes = ['error', 'disabled'];
  /** @type {HTMLInputElement | HTMLSelectElement | null} */
  control = null;
  /** @type {string | undefined} */
  pending;

  /** @returns {HTMLInputElement | HTMLSelectElement} */
  makeControl() {
    const input = document.createElement('input');
    const type = {
      's-url-field': 'url',
      's-password-field': 'password',
      's-email-field': 'email',
      's-number-field': 'text',
      's-search-field': 'search',
    }[this.localName];
    input.type = type ?? 'text';
    if (this.localName === 's-number-field') input.inputMode = 'decimal';
    for (const a of ['placeholder', 'autocomplete', 'maxlength']) {
      const v = this.getAttribute(a);
      if (v !== null) input.setAttribute(a, v);
    }
    return input;
  }

  connectedCallback() {
    if (this.control) return;
    const id = `fb-${++uid}`;
    const control = this.makeControl();
    control.id = id;
    control.name = this.getAttribute('name') ?? '';
    control.value = this.pending ?? this.getAttribute('value') ?? '';
    this.control = control;
    const label = document.createElement('label');
    label.htmlFor = id;
    label.className = 'fb-label';
    label.textContent = this.getAttribute('label') ?? '';
    const details = document.createElement('span');
    details.className = 'fb-details';
    details.textContent = this.getAttribute('details') ?? '';
    const error = document.createElement('span');
    error.className = 'fb-error';
    error.setAttribute('role', 'alert');
    this.append(label, control, details, error);
    this.attributeChangedCallback();
  }

  attributeChangedCallback() {
    const err = this.querySelector(':scope > .fb-error');
    if (err) err.textContent = this.getAttribute('error') ?? '';
    if (this.control) this.control.disabled = this.hasAttribute('disabled');
  }

  get value() {
    return this.control ? this.control.value : (this.pending ?? this.getAttribute('value') ?? '');
  }
  set value(v) {
    if (this.control) this.control.value = String(v ?? '');
    else this.pending = String(v ?? '');
  }
  get name() {
    return this.getAttribute('name') ?? '';
  }
}

class FallbackSelect extends FallbackField {
  makeControl() {
    const select = document.createElement('select');
    for (const o of this.querySelectorAll('s-option')) {
      const opt = document.createElement('option');
      opt.value = o.getAttribute('value') ?? '';
      opt.textContent = o.textContent;
      select.append(opt);
      o.remove();
    }
    return select;
  }
}

class FallbackCheckbox extends HTMLElement {
  /** @type {HTMLInputElement | null} */
  control = null;
  /** @type {boolean | undefined} */
  pending;

  connectedCallback() {
    if (this.control) return;
    const input = document.createElement('input');
    input.type = 'checkbox';
    input.name = this.getAttribute('name') ?? '';
    input.checked = this.pending ?? this.hasAttribute('checked');
    this.control = input;
    const label = document.createElement('label');
    label.className = 'fb-check';
    label.append(input, ` ${this.getAttribute('label') ?? ''}`);
    const details = this.getAttribute('details');
    if (details) {
      const d = document.createElement('span');
      d.className = 'fb-details';
      d.textContent = details;
      label.append(d);
    }
    this.append(label);
  }
  get checked() {
    return this.control ? this.control.checked : (this.pending ?? this.hasAttribute('checked'));
  }
  set checked(v) {
    if (this.control) this.control.checked = Boolean(v);
    else this.pending = Boolean(v);
  }
  get name() {
    return this.getAttribute('name') ?? '';
  }
}

class FallbackButton extends HTMLElement {
  wired = false;
  connectedCallback() {
    if (this.wired) return;
    this.wired = true;
    this.setAttribute('role', 'button');
    if (!this.hasAttribute('tabindex')) this.tabIndex = 0;
    this.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        this.click();
      }
    });
    this.addEventListener('click', (ev) => {
      if (this.hasAttribute('disabled') || this.hasAttribute('loading')) {
        ev.stopImmediatePropagation();
        return;
      }
      if (this.getAttribute('type') === 'submit') this.closest('form')?.requestSubmit();
    });
  }
}

/** Defines the stand-ins for whatever Polaris did not define. Returns whether any was needed. */
export function defineFallbacks() {
  /** @type {[string, CustomElementConstructor][]} */
  const all = [
    ['s-text-field', class extends FallbackField {}],
    ['s-url-field', class extends FallbackField {}],
    ['s-password-field', class extends FallbackField {}],
    ['s-email-field', class extends FallbackField {}],
    ['s-number-field', class extends FallbackField {}],
    ['s-search-field', class extends FallbackField {}],
    ['s-select', FallbackSelect],
    ['s-checkbox', FallbackCheckbox],
    ['s-button', FallbackButton],
  ];
  let any = false;
  for (const [name, ctor] of all) {
    if (customElements.get(name)) continue;
    customElements.define(name, ctor);
    any = true;
  }
  if (any) document.documentElement.classList.add('polaris-fallback');
  return any;
}
