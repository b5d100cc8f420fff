import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { onReauthenticationRequired, reauthenticate } from './api';
import { Dialog } from './components';

interface Asking {
  windowSeconds: number | undefined;
  /** Where focus goes back when the prompt closes. */
  returnTo: HTMLElement | undefined;
  resolve: () => void;
  reject: (reason: Error) => void;
}

/** "5 minutes" for 300 s; seconds when the window is not whole minutes. */
function formatWindow(seconds: number): string {
  if (seconds >= 60 && seconds % 60 === 0) {
    const minutes = seconds / 60;
    return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  }
  return `${seconds} second${seconds === 1 ? '' : 's'}`;
}

/**
 * Focus back on `target` once it can take it. A button that started the refused call is disabled
 * while the call runs (chromium moves focus to the body then), so this waits, a frame at a time,
 * until the call has settled and the button is enabled again; it gives up when something else took
 * the focus meanwhile or the button is gone (its dialog closed, which places focus itself).
 */
function returnFocus(target: HTMLElement | undefined): void {
  if (!target) return;
  const deadline = Date.now() + 30_000;
  const step = (): void => {
    const active = document.activeElement;
    if (active && active !== document.body) return;
    if (!target.isConnected || Date.now() > deadline) return;
    if (target.matches(':disabled')) requestAnimationFrame(step);
    else target.focus();
  };
  requestAnimationFrame(step);
}

/**
 * The console's one password prompt. While it is mounted, a call that the service refuses with
 * `reauthentication_required` (every admin write and ending all other own sessions, once the last
 * password proof is older than REAUTH_WINDOW) opens it; on Confirm the password is proved and the
 * waiting calls are retried, on Cancel they fail with "Not done: the password was not confirmed.".
 * Calls refused while it is open wait for the same prompt (see `call` in api.ts).
 */
export function PasswordPrompt() {
  const [asking, setAsking] = useState<Asking>();
  const current = useRef<Asking | undefined>(undefined);
  current.current = asking;

  useEffect(() => {
    // The last element focused: the control that started the call, even once it lost the focus.
    let lastFocused: HTMLElement | undefined;
    const track = (event: FocusEvent): void => {
      const target = event.target;
      if (target instanceof HTMLElement && !target.closest('dialog')?.querySelector('.reauth')) lastFocused = target;
    };
    document.addEventListener('focusin', track);
    onReauthenticationRequired(
      (windowSeconds) =>
        new Promise<void>((resolve, reject) => {
          const active = document.activeElement;
          const returnTo = active instanceof HTMLElement && active !== document.body ? active : lastFocused;
          setAsking({ windowSeconds, returnTo, resolve, reject });
        }),
    );
    return () => {
      document.removeEventListener('focusin', track);
      onReauthenticationRequired(undefined);
      // Unmounted (signed out) with the prompt open: the waiting calls are not done.
      current.current?.reject(new Error('The console closed the password prompt.'));
    };
  }, []);

  if (!asking) return null;
  return (
    <PasswordDialog
      windowSeconds={asking.windowSeconds}
      onConfirmed={() => {
        setAsking(undefined);
        asking.resolve();
        returnFocus(asking.returnTo);
      }}
      onCancel={() => {
        setAsking(undefined);
        asking.reject(new Error('The password was not confirmed.'));
        returnFocus(asking.returnTo);
      }}
    />
  );
}

function PasswordDialog(props: { windowSeconds: number | undefined; onConfirmed: () => void; onCancel: () => void }) {
  const [password, setPassword] = useState('');
  const field = useRef<HTMLInputElement>(null);
  const id = useId();

  const confirm = async (): Promise<void> => {
    try {
      await reauthenticate(password);
    } catch (failure) {
      // Wrong, or too many tries: the dialog says so and the field is ready for another go.
      field.current?.focus();
      field.current?.select();
      throw failure;
    }
    props.onConfirmed();
  };

  const when =
    props.windowSeconds === undefined
      ? 'you last proved it too long ago'
      : `you last proved it more than ${formatWindow(props.windowSeconds)} ago`;

  return (
    <Dialog title="Confirm your password" onConfirm={confirm} onCancel={props.onCancel}>
      <p id={`${id}-why`} class="reauth">
        This action needs your password again: {when}. Cancel leaves everything as it was.
      </p>
      <div class="field">
        <label for={`${id}-password`}>Password</label>
        <input
          ref={field}
          id={`${id}-password`}
          type="password"
          autocomplete="current-password"
          required
          aria-describedby={`${id}-why`}
          value={password}
          onInput={(event) => setPassword(event.currentTarget.value)}
        />
      </div>
    </Dialog>
  );
}
