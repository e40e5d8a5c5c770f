// Small pieces the pages share: an error line, a confirmation dialog, a key shown as text.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { isUtf8, text, toRoutePart } from '../lib/bytes.js';

export function ErrorLine({ error }: { error: string | undefined }) {
  if (error === undefined) return null;
  return (
    <p class="error" role="alert">
      {error}
    </p>
  );
}

/** A key as text when it is UTF-8, else percent-encoded bytes. */
export function keyText(key: Uint8Array): string {
  return isUtf8(key) ? text(key) : toRoutePart(key);
}

export interface ConfirmProps {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  onConfirm(): void;
  onCancel(): void;
}

/** A modal dialog (the platform's <dialog>: focus kept inside, Escape cancels). */
export function Confirm(p: ConfirmProps) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d !== null && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="confirm-title" onCancel={(e) => (e.preventDefault(), p.onCancel())}>
      <h2 id="confirm-title">{p.title}</h2>
      <div class="confirm-body">{p.children}</div>
      <div class="actions">
        <button type="button" onClick={p.onCancel}>
          Cancel
        </button>
        <button type="button" class={p.danger === true ? 'danger' : 'primary'} onClick={p.onConfirm} autofocus>
          {p.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
