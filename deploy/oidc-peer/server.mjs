// An OpenID Connect provider for tilgang's portal tests: panva's oidc-provider
// (third-party, OpenID Certified; it implements the protocol: discovery, the
// authorization code flow with PKCE, client authentication, ID tokens, JWKS,
// RP-initiated logout) and this glue, which reads test users and clients from
// a JSON file and serves a plain login form that checks the password.
// Started by deploy/oidc-testenv.sh and by internal/testenv/oidctest.
//
//   node server.mjs --config users.json [--port 0] [--ready FILE]
//
// prints "issuer <url> <pid>" when it answers (and writes the URL to FILE).
// The config file:
//
//   {"users": [{"sub": "...", "login": "...", "password": "...",
//               "claims": {"name": "...", "email": "...", "email_verified": true, "employeeid": "..."}}],
//    "clients": [{"client_id": "...", "client_secret": "...", "redirect_uris": ["..."],
//                 "post_logout_redirect_uris": ["..."]}]}
//
// A user signs in with its login (default: its email claim, else its sub),
// case-insensitively. Every claim of a user goes into its ID token (claims
// outside the standard scopes are released with openid, as Entra releases
// optional claims). Clients are oidc-provider client metadata; by default
// confidential (client_secret_basic), code flow only, PKCE always required.
// A client with "application_type": "native" accepts its loopback redirect
// URIs on any port (RFC 8252). State lives in memory: a restart forgets it.
import http from "node:http";
import {readFileSync, writeFileSync, renameSync} from "node:fs";
import {generateKeyPairSync, randomBytes, randomUUID} from "node:crypto";
import {parseArgs} from "node:util";
import Provider from "oidc-provider";

const {values: args} = parseArgs({options: {config: {type: "string"}, port: {type: "string", default: "0"}, ready: {type: "string"}}});
if (!args.config) {
    console.error("usage: node server.mjs --config FILE [--port N] [--ready FILE]");
    process.exit(2);
}
const config = JSON.parse(readFileSync(args.config, "utf8"));
const users = config.users ?? [];
const clients = config.clients ?? [];
if (users.length === 0 || clients.length === 0) {
    console.error(`${args.config}: needs at least one user and one client`);
    process.exit(2);
}
const bySub = new Map();
const byLogin = new Map();
for (const [i, u] of users.entries()) {
    if (!u.sub || !u.password) {
        console.error(`${args.config}: users[${i}] needs sub and password`);
        process.exit(2);
    }
    const login = String(u.login ?? u.claims?.email ?? u.sub).toLowerCase();
    if (bySub.has(u.sub) || byLogin.has(login)) {
        console.error(`${args.config}: users[${i}]: sub ${u.sub} or login ${login} is used twice`);
        process.exit(2);
    }
    bySub.set(u.sub, u);
    byLogin.set(login, u);
}

const standard = {
    openid: ["sub"],
    profile: ["name", "family_name", "given_name", "middle_name", "nickname", "preferred_username", "profile",
        "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"],
    email: ["email", "email_verified"],
    address: ["address"],
    phone: ["phone_number", "phone_number_verified"],
};
const known = new Set(Object.values(standard).flat());
const extra = [...new Set(users.flatMap((u) => Object.keys(u.claims ?? {})).filter((c) => !known.has(c)))];

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
const page = (title, body) => `<!DOCTYPE html>
<html lang="nb"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title></head>
<body><main><h1>${esc(title)}</h1>
${body}
</main></body></html>`;

const key = generateKeyPairSync("rsa", {modulusLength: 2048}).privateKey.export({format: "jwk"});

const server = http.createServer();
await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(args.port), "127.0.0.1", resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
    clients: clients.map((c) => ({
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_basic",
        ...c,
    })),
    jwks: {keys: [{...key, kid: "test-" + randomUUID().slice(0, 8), alg: "RS256", use: "sig"}]},
    cookies: {
        keys: [randomBytes(32).toString("hex")],
        // Not the names a relying party on another port of 127.0.0.1 might use:
        // cookies do not tell ports apart.
        names: {session: "oidcpeer_session", interaction: "oidcpeer_interaction", resume: "oidcpeer_resume"},
    },
    responseTypes: ["code"],
    pkce: {required: () => true},
    scopes: ["openid", "profile", "email", "offline_access"],
    claims: {...standard, openid: ["sub", ...extra]},
    conformIdTokenClaims: false,
    features: {devInteractions: {enabled: false}, rpInitiatedLogout: {enabled: true, logoutSource, postLogoutSuccessSource}},
    interactions: {url: (ctx, interaction) => `/interaction/${interaction.uid}`},
    findAccount: (ctx, sub) => {
        const u = bySub.get(sub);
        return u && {accountId: sub, claims: () => ({...u.claims, sub})};
    },
    // No consent screen: every client is first-party here.
    loadExistingGrant: async (ctx) => grantFor(ctx.oidc.provider, ctx.oidc.client.clientId, ctx.oidc.session.accountId,
        ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId), ctx.oidc.params.scope),
    renderError: async (ctx, out) => {
        ctx.type = "html";
        ctx.body = page("Feil", Object.entries(out).map(([k, v]) => `<p><code>${esc(k)}</code>: ${esc(v)}</p>`).join("\n"));
    },
});

async function grantFor(provider, clientId, accountId, grantId, scope) {
    const grant = (grantId && await provider.Grant.find(grantId)) || new provider.Grant({clientId, accountId});
    grant.addOIDCScope(scope ?? "openid");
    await grant.save();
    return grant;
}

async function logoutSource(ctx, form) {
    ctx.body = page("Logg ut", `${form}<p>Vil du logge ut fra ${esc(ctx.host)}?</p>
<button type="submit" form="op.logoutForm" value="yes" name="logout">Logg ut</button>
<button type="submit" form="op.logoutForm">Forbli innlogget</button>`);
}

async function postLogoutSuccessSource(ctx) {
    ctx.body = page("Logget ut", "<p>Du er logget ut.</p>");
}

function loginForm(uid, login, error) {
    return page("Logg inn", `${error ? `<p role="alert" id="error">${esc(error)}</p>` : ""}
<form method="post" action="/interaction/${esc(uid)}/login">
<p><label for="login">Brukernavn</label><br><input id="login" name="login" type="text" autocomplete="username" required value="${esc(login)}"></p>
<p><label for="password">Passord</label><br><input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Logg inn</button></p>
</form>`);
}

async function readForm(req) {
    let body = "";
    for await (const chunk of req) {
        body += chunk;
        if (body.length > 64 * 1024) throw new Error("form too large");
    }
    return new URLSearchParams(body);
}

async function interaction(req, res, uid, action) {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new Error("interaction does not match its cookie");
    const html = (status, body) => {
        res.writeHead(status, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"});
        res.end(body);
    };
    if (details.prompt.name === "consent") {
        // Given without asking. loadExistingGrant spares the prompt, except for native
        // clients (loopback redirect URIs on any port), which oidc-provider always prompts.
        const grant = await grantFor(provider, details.params.client_id, details.session.accountId, details.grantId, details.params.scope);
        return provider.interactionFinished(req, res, {consent: {grantId: grant.jti}}, {mergeWithLastSubmission: true});
    }
    if (details.prompt.name !== "login") {
        throw new Error(`cannot handle the prompt ${details.prompt.name}`);
    }
    if (req.method === "GET" && !action) {
        return html(200, loginForm(uid, details.params.login_hint ?? "", ""));
    }
    if (req.method === "POST" && action === "login") {
        const form = await readForm(req);
        const login = form.get("login") ?? "";
        const u = byLogin.get(login.toLowerCase());
        if (!u || u.password !== (form.get("password") ?? "")) {
            return html(401, loginForm(uid, login, "Feil brukernavn eller passord."));
        }
        return provider.interactionFinished(req, res, {login: {accountId: u.sub}}, {mergeWithLastSubmission: false});
    }
    return html(405, page("Feil", "<p>Ukjent handling.</p>"));
}

const callback = provider.callback();
server.on("request", (req, res) => {
    const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?$/.exec(new URL(req.url, issuer).pathname);
    if (!m) return callback(req, res);
    interaction(req, res, m[1], m[2]).catch((err) => {
        if (!res.headersSent) {
            res.writeHead(400, {"Content-Type": "text/html; charset=utf-8"});
            res.end(page("Feil", `<p>${esc(err.message)}</p>`));
        }
    });
});

if (args.ready) {
    writeFileSync(args.ready + ".tmp", issuer + "\n");
    renameSync(args.ready + ".tmp", args.ready);
}
console.log(`issuer ${issuer} ${process.pid}`);
const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
