/** The error registry as a banner; a config error is shown first and largest. */
import { html } from '../html.js';

export function Banner({ errors }: { errors: Record<string, string> }) {
  const entries = Object.entries(errors);
  if (entries.length === 0) return null;
  const config = entries.filter(([key]) => key === 'Config');
  const others = entries.filter(([key]) => key !== 'Config');
  return html`<div>
    ${config.map(([, message]) => html`<div class="banner config" data-testid="config-error">Config error — the last good config stays in force: ${message}</div>`)}
    ${others.map(([key, message]) => html`<div class="banner" data-testid="error-banner">${key}: ${message}</div>`)}
  </div>`;
}
