function escapeAttribute(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

/**
 * The console's one page: landmarks (header, nav, main), a skip link, one section a view, labelled
 * forms, a polite live region for status. No inline script or style: the strict CSP holds.
 */
export function consolePage(options: { clientId: string; redirectUri: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="creditgate-console-client-id" content="${escapeAttribute(options.clientId)}">
<meta name="creditgate-console-redirect-uri" content="${escapeAttribute(options.redirectUri)}">
<title>creditgate compliance console</title>
<link rel="stylesheet" href="/console/console.css">
<script type="module" src="/console/console.js"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="bar">
  <h1>creditgate <span>compliance console</span></h1>
  <div id="who" class="who" aria-live="polite"></div>
  <button type="button" id="sign-in" hidden>Sign in</button>
  <button type="button" id="sign-out" class="quiet" hidden>Sign out</button>
</header>
<nav aria-label="Views" id="views" hidden>
  <ul>
    <li><a href="#overview">Overview</a></li>
    <li><a href="#journal">Journal</a></li>
    <li><a href="#balance">Balance over time</a></li>
    <li><a href="#audit">Audit events</a></li>
    <li><a href="#exports">Exports</a></li>
  </ul>
</nav>
<main id="main" tabindex="-1">
  <p id="status" class="status" role="status" aria-live="polite"></p>

  <section id="signed-out" aria-labelledby="signed-out-title">
    <h2 id="signed-out-title">Sign in to audit the ledger</h2>
    <p>The console reads the ledger and the audit trail with the <code>audit:read</code> scope. Only users with the
      compliance role may grant it. Sign in with your creditgate account.</p>
  </section>

  <section id="overview" class="view" aria-labelledby="overview-title" hidden>
    <h2 id="overview-title">Overview</h2>
    <div class="cards">
      <article class="card wide" aria-labelledby="tb-title">
        <h3 id="tb-title">Trial balance</h3>
        <div id="trial-balance"></div>
      </article>
      <article class="card" aria-labelledby="cp-title">
        <h3 id="cp-title">Latest checkpoint</h3>
        <div id="checkpoint"></div>
      </article>
      <article class="card wide" aria-labelledby="ver-title">
        <h3 id="ver-title">Verification</h3>
        <div id="last-verification"></div>
        <p class="actions">
          <button type="button" id="run-verification">Verify the ledger now</button>
          <button type="button" id="run-audit-verification" class="quiet">Verify the audit chain</button>
        </p>
        <div id="verification-report" aria-live="polite"></div>
      </article>
    </div>
  </section>

  <section id="journal" class="view" aria-labelledby="journal-title" hidden>
    <h2 id="journal-title">Journal</h2>
    <form id="journal-form" class="filters">
      <label>Account id <input name="accountId" autocomplete="off" spellcheck="false" size="38"></label>
      <label>Status
        <select name="status"><option value="">any</option><option>posted</option><option>pending</option><option>voided</option><option>expired</option></select>
      </label>
      <label>From <input name="from" type="datetime-local" step="1"></label>
      <label>To <input name="to" type="datetime-local" step="1"></label>
      <button type="submit">Search</button>
    </form>
    <div id="journal-results"></div>
    <div id="transfer-detail" tabindex="-1"></div>
  </section>

  <section id="balance" class="view" aria-labelledby="balance-title" hidden>
    <h2 id="balance-title">Balance over time</h2>
    <form id="balance-form" class="filters">
      <label>Account id <input name="accountId" required autocomplete="off" spellcheck="false" size="38"></label>
      <label>From <input name="from" type="datetime-local" step="1" required></label>
      <label>To <input name="to" type="datetime-local" step="1" required></label>
      <button type="submit">Draw</button>
    </form>
    <figure id="balance-chart"></figure>
  </section>

  <section id="audit" class="view" aria-labelledby="audit-title" hidden>
    <h2 id="audit-title">Audit events</h2>
    <form id="audit-form" class="filters">
      <label>Action or family <input name="action" placeholder="oauth. or ledger.transfer.posted" spellcheck="false"></label>
      <label>User id <input name="userId" spellcheck="false" size="38"></label>
      <label>Client id <input name="clientId" spellcheck="false"></label>
      <label>Resource id <input name="resourceId" spellcheck="false"></label>
      <label>Outcome <select name="outcome"><option value="">any</option><option>success</option><option>failure</option></select></label>
      <label>From <input name="from" type="datetime-local" step="1"></label>
      <label>To <input name="to" type="datetime-local" step="1"></label>
      <button type="submit">Search</button>
    </form>
    <div id="audit-results"></div>
  </section>

  <section id="exports" class="view" aria-labelledby="exports-title" hidden>
    <h2 id="exports-title">Exports</h2>
    <form id="export-form" class="filters">
      <label>From <input name="from" type="datetime-local" step="1"></label>
      <label>To <input name="to" type="datetime-local" step="1"></label>
      <fieldset><legend>Format</legend>
        <label><input type="radio" name="format" value="csv" checked> CSV (one entry a row)</label>
        <label><input type="radio" name="format" value="ndjson"> NDJSON (one transfer a line)</label>
      </fieldset>
      <button type="submit">Download</button>
    </form>
    <p class="hint">Transfers with their entries, hashes and digests. For very large exports use the API directly:
      <code>GET /v1/ledger/export?from=&amp;to=&amp;format=csv</code> streams in constant memory.</p>
  </section>
</main>
</body>
</html>
`;
}
