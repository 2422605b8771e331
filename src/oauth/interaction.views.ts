/** Server-rendered pages of the sign-in interaction: plain HTML forms that work without JavaScript. */

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

const STYLE = `
  :root { color-scheme: light dark; --accent: #0b6bcb; }
  body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", sans-serif; margin: 0; background: Canvas; color: CanvasText; }
  main { max-width: 26rem; margin: 3rem auto; padding: 1.5rem; border: 1px solid color-mix(in srgb, CanvasText 15%, transparent); border-radius: 12px; }
  h1 { font-size: 1.35rem; margin: 0 0 .75rem; }
  label { display: block; margin: 1rem 0 .25rem; font-weight: 600; }
  input[type=text], input[type=password], input[type=email] { width: 100%; box-sizing: border-box; padding: .6rem; font: inherit; border-radius: 8px; border: 1px solid color-mix(in srgb, CanvasText 35%, transparent); }
  button { font: inherit; padding: .6rem 1.2rem; border-radius: 8px; border: 1px solid var(--accent); cursor: pointer; }
  button.primary { background: var(--accent); color: white; }
  button.secondary { background: transparent; color: var(--accent); }
  .actions { display: flex; gap: .75rem; margin-top: 1.5rem; }
  .error { color: #b3261e; font-weight: 600; }
  ul.scopes { padding-left: 1.2rem; }
  .muted { opacity: .75; font-size: .9rem; }
`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)} · creditgate</title>
<style>${STYLE}</style>
</head>
<body><main>${body}</main></body>
</html>`;
}

export interface LoginView {
  readonly uid: string;
  readonly csrfToken: string;
  readonly clientName: string;
  readonly login?: string;
  readonly error?: string;
}

export function loginPage(view: LoginView): string {
  return page(
    'Sign in',
    `<h1>Sign in to continue to ${escapeHtml(view.clientName)}</h1>
${view.error ? `<p class="error" role="alert">${escapeHtml(view.error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(view.uid)}/login" autocomplete="on">
  <input type="hidden" name="csrfToken" value="${escapeHtml(view.csrfToken)}">
  <label for="login">Email or phone number</label>
  <input id="login" name="login" type="text" required maxlength="254" autocomplete="username" value="${escapeHtml(view.login ?? '')}" autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" required maxlength="128" autocomplete="current-password">
  <div class="actions"><button class="primary" type="submit">Sign in</button></div>
</form>
<form method="post" action="/interaction/${escapeHtml(view.uid)}/abort">
  <input type="hidden" name="csrfToken" value="${escapeHtml(view.csrfToken)}">
  <div class="actions"><button class="secondary" type="submit">Cancel</button></div>
</form>`,
  );
}

export interface ConsentView {
  readonly uid: string;
  readonly csrfToken: string;
  readonly clientName: string;
  readonly merchantName: string | null;
  readonly userName: string;
  readonly scopes: readonly { scope: string; description: string }[];
}

export function consentPage(view: ConsentView): string {
  const owner = view.merchantName ? ` by ${escapeHtml(view.merchantName)}` : '';
  return page(
    'Allow access',
    `<h1>${escapeHtml(view.clientName)}${owner} wants to act for you</h1>
<p>Signed in as <strong>${escapeHtml(view.userName)}</strong>. If you allow it, ${escapeHtml(view.clientName)} may:</p>
<ul class="scopes">
${view.scopes.map((item) => `  <li><strong>${escapeHtml(item.description)}</strong> <span class="muted">(${escapeHtml(item.scope)})</span></li>`).join('\n')}
</ul>
<p class="muted">You can withdraw this at any time; creditgate will remember your answer until then.</p>
<form method="post" action="/interaction/${escapeHtml(view.uid)}/consent">
  <input type="hidden" name="csrfToken" value="${escapeHtml(view.csrfToken)}">
  <div class="actions">
    <button class="primary" type="submit" name="decision" value="approve">Allow</button>
    <button class="secondary" type="submit" name="decision" value="deny">Deny</button>
  </div>
</form>`,
  );
}

export function interactionErrorPage(message: string): string {
  return page(
    'Sign-in error',
    `<h1>This sign-in cannot continue</h1><p>${escapeHtml(message)}</p><p>Go back to the app you came from and start again.</p>`,
  );
}
