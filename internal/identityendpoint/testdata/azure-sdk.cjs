// The Azure SDK for JavaScript, unmodified, against credhost's identity
// endpoint: it reads IDENTITY_ENDPOINT and IDENTITY_HEADER itself.
// Prints one JSON object: the token each credential got, and the
// containers @azure/storage-blob lists on Azurite (BLOB_URL) with it.
"use strict";
const { ManagedIdentityCredential, DefaultAzureCredential } = require("@azure/identity");
const { BlobServiceClient } = require("@azure/storage-blob");

const scope = "https://storage.azure.com/.default";

async function main() {
  const out = { tokens: {} };
  for (const [name, cred] of [
    ["ManagedIdentityCredential", new ManagedIdentityCredential()],
    ["DefaultAzureCredential", new DefaultAzureCredential()],
  ]) {
    const t = await cred.getToken(scope);
    out.tokens[name] = { token: t.token, expiresOnTimestamp: t.expiresOnTimestamp };
  }
  if (process.env.BLOB_URL) {
    const blobs = new BlobServiceClient(process.env.BLOB_URL, new DefaultAzureCredential());
    await blobs.createContainer(process.env.CONTAINER);
    out.containers = [];
    for await (const c of blobs.listContainers()) {
      out.containers.push(c.name);
    }
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  // The message, never a token: the SDK's errors carry none.
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
