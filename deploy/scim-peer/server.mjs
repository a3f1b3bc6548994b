// A SCIM 2.0 service provider for tilgang's scim connector tests: SCIMMY
// (third-party; it implements the protocol: filters, PATCH, paging, schema
// checks, the error schema) mounted with scimmy-routers on express 4, and
// this glue, which only stores resources in memory, assigns ids and meta,
// answers 409 uniqueness on a duplicate userName or group displayName, and
// checks a bearer token. Started by deploy/scim-testenv.sh.
//
//   SCIM_TOKEN=secret SCIM_PORT=0 node server.mjs   # prints "listening <port> <pid>"
import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";
import {randomUUID} from "node:crypto";

const token = process.env.SCIM_TOKEN;
if (!token) {
    console.error("SCIM_TOKEN is not set");
    process.exit(2);
}

function store(Resource, uniqueKey) {
    const items = new Map();
    const clone = (v) => JSON.parse(JSON.stringify(v));
    Resource.ingress((resource, instance) => {
        const data = clone(instance);
        const key = String(data[uniqueKey] ?? "").toLowerCase();
        for (const [id, other] of items) {
            if (id !== resource.id && String(other[uniqueKey] ?? "").toLowerCase() === key) {
                throw new SCIMMY.Types.Error(409, "uniqueness", `${uniqueKey} ${data[uniqueKey]} is already in use`);
            }
        }
        const now = new Date().toISOString();
        if (resource.id) {
            const old = items.get(resource.id);
            if (!old) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
            const n = Number(/W\/"(\d+)"/.exec(old.meta.version)?.[1] ?? 0) + 1;
            const next = {...data, id: resource.id, meta: {...old.meta, lastModified: now, version: `W/"${n}"`}};
            items.set(resource.id, next);
            return clone(next);
        }
        const id = randomUUID();
        const next = {...data, id, meta: {resourceType: Resource.schema.definition.name, created: now, lastModified: now, version: 'W/"1"'}};
        items.set(id, next);
        return clone(next);
    });
    Resource.egress((resource) => {
        if (resource.id) {
            const item = items.get(resource.id);
            if (!item) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
            return clone(item);
        }
        let all = [...items.values()];
        if (resource.filter) {
            // Per resource: a filter on a complex attribute that one resource
            // lacks would otherwise fail the whole list with a 400.
            all = all.filter((item) => {
                try {
                    return resource.filter.match([item]).length > 0;
                } catch {
                    return false;
                }
            });
        }
        return all.map(clone);
    });
    Resource.degress((resource) => {
        if (!items.delete(resource.id)) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
    });
}

store(SCIMMY.Resources.declare(SCIMMY.Resources.User), "userName");
store(SCIMMY.Resources.declare(SCIMMY.Resources.Group), "displayName");

const app = express();
app.set("etag", false); // express's body-hash ETag would look like SCIM versioning
app.use("/scim/v2", new SCIMMYRouters({
    type: "bearer",
    docUri: "https://example.test/tilgang/scim-peer",
    handler: (request) => {
        if (request.header("Authorization") !== `Bearer ${token}`) throw new Error("Authorization failed");
        return "tilgang";
    },
}));

const server = app.listen(Number(process.env.SCIM_PORT ?? 0), "127.0.0.1", () => {
    console.log(`listening ${server.address().port} ${process.pid}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
process.on("SIGINT", () => server.close(() => process.exit(0)));
