import type { ComponentChildren } from 'preact';
import { useEffect, useId, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { describeError } from './api';
import { formatExact, formatRelative, useNow } from './format';
import type { PagedList } from './loading';
import { followLink } from './router';

export function Link(props: { href: string; current?: boolean; children: ComponentChildren; label?: string }) {
  return (
    <a
      href={props.href}
      onClick={followLink}
      aria-current={props.current ? 'page' : undefined}
      aria-label={props.label}
    >
      {props.children}
    </a>
  );
}

/** The page's h1; focused when the page is opened so screen readers announce the new page. */
export function PageHeading(props: { children: string }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useLayoutEffect(() => {
    document.title = `${props.children} · Session console`;
    heading.current?.focus({ preventScroll: false });
  }, [props.children]);
  return (
    <h1 ref={heading} tabIndex={-1}>
      {props.children}
    </h1>
  );
}

/** Focus the page's heading: where focus goes when the control that had it is gone. */
export function focusHeading(): void {
  document.querySelector<HTMLElement>('main h1')?.focus();
}

/** "3 minutes ago", with the exact time in the browser's locale on hover and for machines. */
export function RelativeTime(props: { at: string }) {
  const now = useNow();
  const exact = formatExact(props.at);
  return (
    <time dateTime={props.at} title={exact}>
      {formatRelative(props.at, now)}
    </time>
  );
}

/**
 * An error: rendered only while there is one, so each page has at most one alert at a time.
 * With onRetry it offers a Retry button, for a load that may well work the second time.
 */
export function Alert(props: { message: string | undefined; onRetry?: () => void }) {
  if (!props.message) return null;
  return (
    <div role="alert" class="alert">
      <p>{props.message}</p>
      {props.onRetry ? (
        <button type="button" onClick={props.onRetry}>
          Retry
        </button>
      ) : null}
    </div>
  );
}

/** A polite live region for what just happened ("Session ended."); always present so it is announced. */
export function Status(props: { message: string | undefined }) {
  return (
    <p role="status" class={props.message ? 'status' : 'status empty'}>
      {props.message ?? ''}
    </p>
  );
}

/** A wide table scrolls inside its own box on a narrow screen; the box takes focus so keys scroll it. */
export function TableBox(props: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-box" role="region" aria-label={props.label} tabIndex={0}>
      {props.children}
    </div>
  );
}

/** A table's column headings; `actions` adds a last column for row buttons, named for screen readers only. */
export function TableHead(props: { columns: string[]; actions?: boolean }) {
  return (
    <thead>
      <tr>
        {props.columns.map((column) => (
          <th key={column} scope="col">
            {column}
          </th>
        ))}
        {props.actions ? (
          <th scope="col">
            <span class="visually-hidden">Actions</span>
          </th>
        ) : null}
      </tr>
    </thead>
  );
}

export interface DialogProps {
  title: string;
  /** Text of the confirming button. */
  confirmLabel?: string;
  /** A destructive action: the confirming button is red and focus starts on Cancel. */
  danger?: boolean;
  children?: ComponentChildren;
  /**
   * Does what was confirmed, then closes the dialog. While it runs the confirming button is
   * disabled; if it throws, the dialog stays open and shows why.
   */
  onConfirm: () => Promise<void>;
  onCancel: () => void;
}

/**
 * A modal <dialog>: focus moves into it (the first field, else Cancel for a destructive action,
 * else the confirming button), Escape cancels, and focus goes back where it was when it closes.
 */
export function Dialog(props: DialogProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const confirm = async (): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      await props.onConfirm();
    } catch (failure) {
      setError(describeError(failure));
      setBusy(false);
    }
  };
  const dialog = useRef<HTMLDialogElement>(null);
  const onCancel = useRef(props.onCancel);
  onCancel.current = props.onCancel;
  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    element.showModal();
    const first =
      element.querySelector<HTMLElement>('input, select, textarea') ??
      element.querySelector<HTMLElement>(props.danger ? 'button.cancel' : 'button.confirm');
    first?.focus();
    const cancel = (event: Event): void => {
      event.preventDefault();
      onCancel.current();
    };
    element.addEventListener('cancel', cancel);
    return () => {
      element.removeEventListener('cancel', cancel);
      if (element.open) element.close();
      if (opener?.isConnected) opener.focus();
      else focusHeading();
    };
    // Opened once per mount: the dialog is rendered only while it is open.
  }, []);
  const titleId = useId();
  return (
    <dialog ref={dialog} aria-labelledby={titleId} class="dialog">
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (!busy) void confirm();
        }}
      >
        <h2 id={titleId}>{props.title}</h2>
        {props.children}
        <Alert message={error} />
        <div class="actions">
          <button type="submit" class={props.danger ? 'confirm danger' : 'confirm'} disabled={busy}>
            {props.confirmLabel ?? 'Confirm'}
          </button>
          <button type="button" class="cancel" onClick={() => props.onCancel()}>
            Cancel
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** Next page / First page under a paged table. */
export function Pager(props: {
  label: string;
  list: Pick<PagedList<unknown>, 'page' | 'hasNext' | 'loading' | 'next' | 'first'>;
}) {
  const { list } = props;
  return (
    <div class="pager" role="group" aria-label={`${props.label} pages`}>
      <button type="button" onClick={list.first} disabled={list.loading || list.page === 1}>
        First page
      </button>
      <span>Page {list.page}</span>
      <button type="button" onClick={list.next} disabled={list.loading || !list.hasNext}>
        Next page
      </button>
    </div>
  );
}

/** A session an admin started as its user (impersonation). */
export function ImpersonationTag(props: { by: { username: string } | null }) {
  if (!props.by) return null;
  return (
    <span class="tag warn" title={`Started by the admin ${props.by.username} acting as this user`}>
      impersonated by {props.by.username}
    </span>
  );
}
