// jest 29 cannot require() an ES module from a CommonJS package (Node 20.19+ can, so the service itself
// needs none of this). @fastify/static (used by Swagger UI at /docs) requires content-disposition 3,
// which is ESM-only; under jest it gets the same function from content-disposition 1, which is CommonJS.
const contentDisposition = require('content-disposition-v1');

module.exports = { create: contentDisposition, parse: contentDisposition.parse };
