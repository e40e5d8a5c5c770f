// A value as text, pretty JSON or a hex dump. Large values are shown in part (the first
// MAX_SHOWN_BYTES), so a multi-megabyte value does not freeze the page.
import { useState } from 'preact/hooks';
import { hexDump, isUtf8, text } from '../lib/bytes.js';

export type ValueMode = 'text' | 'json' | 'hex';

const MAX_SHOWN_BYTES = 256 * 1024;

function prettyJson(s: string): string | undefined {
  try {
    return JSON.stringify(JSON.parse(s), null, 2);
  } catch {
    return undefined;
  }
}

export function defaultMode(value: Uint8Array): ValueMode {
  if (!isUtf8(value)) return 'hex';
  return prettyJson(text(value)) !== undefined && /^\s*[[{]/.test(text(value)) ? 'json' : 'text';
}

export function ValueView({ value }: { value: Uint8Array }) {
  const [mode, setMode] = useState<ValueMode>(defaultMode(value));
  const shown = value.subarray(0, MAX_SHOWN_BYTES);
  let body: string;
  let note: string | undefined;
  if (mode === 'hex') body = hexDump(shown, MAX_SHOWN_BYTES);
  else if (mode === 'json') {
    const pretty = prettyJson(text(value));
    body = pretty ?? text(shown);
    if (pretty === undefined) note = 'Not valid JSON: shown as text.';
  } else body = text(shown);
  if (value.length > MAX_SHOWN_BYTES) note = `Showing the first ${MAX_SHOWN_BYTES.toLocaleString('en')} of ${value.length.toLocaleString('en')} bytes.`;
  return (
    <div class="value-view">
      <div class="tabs" role="group" aria-label="Show value as">
        {(['text', 'json', 'hex'] as const).map((m) => (
          <button key={m} type="button" class={m === mode ? 'tab active' : 'tab'} aria-pressed={m === mode} onClick={() => setMode(m)}>
            {m === 'json' ? 'JSON' : m === 'hex' ? 'Hex' : 'Text'}
          </button>
        ))}
      </div>
      {note !== undefined && <p class="muted small">{note}</p>}
      <pre class="value" data-testid="value" tabIndex={0}>
        {body}
      </pre>
    </div>
  );
}
