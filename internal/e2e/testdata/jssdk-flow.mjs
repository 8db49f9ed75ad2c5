// jssdk-flow.mjs: a Matrix client (matrix-js-sdk from npm) against a real
// homeserver behind the shipped Caddyfile routes, with mediarepo serving
// the media paths. Driven by internal/e2e/homeserver_test.go, which reads
// the JSON lines this prints ({"step": ..., ...}) and checks them; any
// failed expectation exits non-zero with {"error": ...}.
//
// Environment: JSSDK_DIR (the folder holding node_modules/matrix-js-sdk),
// BASE_URL (the proxy), IMAGE and EICAR (files), PREVIEW_URL and
// PREVIEW_TITLE, AUTH_CACHE_MS (auth.cache_ttl).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const env = (k) => {
    const v = process.env[k];
    if (!v) throw new Error(`${k} is not set`);
    return v;
};
const sdk = await import(pathToFileURL(join(env("JSSDK_DIR"), "node_modules/matrix-js-sdk/lib/index.js")).href);
const baseUrl = env("BASE_URL");
const emit = (step, data = {}) => console.log(JSON.stringify({ step, ...data }));
const fail = (msg) => {
    console.log(JSON.stringify({ error: msg }));
    process.exit(1);
};
const expect = (cond, msg) => cond || fail(msg);

// register creates a user with open registration (m.login.dummy), as a
// client's sign-up flow does: first the 401 with the flows, then the stage.
async function register(name) {
    const anon = sdk.createClient({ baseUrl });
    let session;
    try {
        await anon.registerRequest({ username: name, password: "secret-" + name });
    } catch (e) {
        session = e.data?.session;
        expect(e.httpStatus === 401 && session, `registration did not offer flows: ${e}`);
    }
    const res = await anon.register(name, "secret-" + name, session, { type: "m.login.dummy" });
    emit("registered", { user_id: res.user_id });
    return sdk.createClient({ baseUrl, accessToken: res.access_token, userId: res.user_id, deviceId: res.device_id });
}

// authedFetch gets an authenticated-media URL with the client's token.
async function authedFetch(client, url, token = client.getAccessToken()) {
    const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
    const body = Buffer.from(await res.arrayBuffer());
    return { status: res.status, type: res.headers.get("content-type"), body };
}

const alice = await register("alice" + Date.now());
const bob = await register("bob" + Date.now());

// A room; bob is invited and joins.
const { room_id: roomId } = await alice.createRoom({ name: "mediarepo e2e", preset: "private_chat" });
await alice.invite(roomId, bob.getUserId());
await bob.joinRoom(roomId);
emit("joined", { room_id: roomId });

// Alice uploads an image and sends it as m.image.
const image = readFileSync(env("IMAGE"));
const cfg = await alice.getMediaConfig(true);
expect(cfg["m.upload.size"] > image.length, `media config: ${JSON.stringify(cfg)}`);
const up = await alice.uploadContent(image, { type: "image/png", name: "cat.png" });
expect(up.content_uri?.startsWith("mxc://"), `upload: ${JSON.stringify(up)}`);
await alice.sendMessage(roomId, {
    msgtype: "m.image", body: "cat.png", url: up.content_uri,
    info: { mimetype: "image/png", size: image.length },
});
emit("sent", { content_uri: up.content_uri });

// Bob finds the event and downloads the image and its thumbnails through
// authenticated media (/_matrix/client/v1/media).
const msgs = await bob.createMessagesRequest(roomId, null, 20, sdk.Direction.Backward);
const ev = msgs.chunk.find((e) => e.type === "m.room.message" && e.content?.msgtype === "m.image");
expect(ev, `bob sees no m.image in ${JSON.stringify(msgs.chunk.map((e) => e.type))}`);
const dlURL = bob.mxcUrlToHttp(ev.content.url, undefined, undefined, undefined, false, true, true);
expect(dlURL.includes("/_matrix/client/v1/media/download/"), `not authenticated media: ${dlURL}`);
const dl = await authedFetch(bob, dlURL);
expect(dl.status === 200 && dl.body.equals(image), `download: ${dl.status} ${dl.body.length} bytes`);
emit("downloaded", { bytes: dl.body.length, url: dlURL });
for (const [w, h, m] of [[32, 32, "crop"], [96, 96, "crop"], [320, 240, "scale"]]) {
    const u = bob.mxcUrlToHttp(ev.content.url, w, h, m, false, true, true);
    const th = await authedFetch(bob, u);
    expect(th.status === 200 && th.type.startsWith("image/") && th.body.length > 0, `thumbnail ${w}x${h}: ${th.status} ${th.type}`);
    emit("thumbnail", { width: w, height: h, method: m, type: th.type, bytes: th.body.length });
}
const noAuth = await fetch(dlURL);
expect(noAuth.status === 401, `download without a token: ${noAuth.status}`);

// A link preview.
const pv = await bob.getUrlPreview(env("PREVIEW_URL"), Date.now());
expect(pv["og:title"] === env("PREVIEW_TITLE"), `preview: ${JSON.stringify(pv)}`);
expect(typeof pv["og:image"] === "string" && pv["og:image"].startsWith("mxc://"), `preview image: ${JSON.stringify(pv)}`);
const pvImg = await authedFetch(bob, bob.mxcUrlToHttp(pv["og:image"], undefined, undefined, undefined, false, true, true));
expect(pvImg.status === 200, `preview image download: ${pvImg.status}`);
emit("preview", { title: pv["og:title"], image: pv["og:image"] });

// EICAR is refused: accepted for scanning, never served.
const eicar = readFileSync(env("EICAR"));
let refusedAt = "download";
let eicarURI;
try {
    eicarURI = (await alice.uploadContent(eicar, { type: "application/octet-stream", name: "eicar.com" })).content_uri;
} catch (e) {
    expect(e.httpStatus === 403, `EICAR upload: ${e}`);
    refusedAt = "upload";
}
if (eicarURI) {
    const r = await authedFetch(bob, bob.mxcUrlToHttp(eicarURI, undefined, undefined, undefined, false, true, true));
    const err = JSON.parse(r.body.toString());
    expect(r.status === 403 && err.errcode === "M_FORBIDDEN" && err.reason === "MCS_MEDIA_NOT_CLEAN",
        `EICAR download: ${r.status} ${r.body}`);
}
emit("eicar_refused", { at: refusedAt });

// Bob logs out; his token must stop working on media within auth.cache_ttl.
const oldToken = bob.getAccessToken();
const cacheMs = Number(env("AUTH_CACHE_MS"));
await bob.logout();
const loggedOut = Date.now();
let status;
for (;;) {
    status = (await authedFetch(bob, dlURL, oldToken)).status;
    if (status === 401 || Date.now() - loggedOut > cacheMs + 10000) break;
    await new Promise((r) => setTimeout(r, 100));
}
expect(status === 401, `the logged-out token still works ${Date.now() - loggedOut} ms after logout`);
emit("logged_out", { refused_after_ms: Date.now() - loggedOut, cache_ms: cacheMs });
emit("done");
process.exit(0);
