// Validates rendered Kubernetes manifests (a multi-document YAML file, the last argument) against the Kubernetes
// API's JSON schemas as packaged by the npm package kubernetes-models. Run by ManifestTests with the working
// directory at the tools folder where Deploy/setup.sh installed it (bare imports resolve from there).
// Prints one line per object; exits 1 if any object is invalid.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const file = process.argv[process.argv.length - 1];
for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
  const object = doc.toJSON();
  const [group, version] = object.apiVersion.includes("/") ? object.apiVersion.split("/") : ["", object.apiVersion];
  const name = `${object.apiVersion} ${object.kind} ${object.metadata?.name}`;
  let model;
  try {
    model = (await import(`kubernetes-models/${group ? group + "/" : ""}${version}/${object.kind}`))[object.kind];
  } catch {
    console.log(`unknown ${name}: no schema for this apiVersion and kind`);
    process.exitCode = 1;
    continue;
  }
  try {
    new model(object).validate();
    console.log(`valid ${name}`);
  } catch (error) {
    console.log(`invalid ${name}: ${error.message}`);
    process.exitCode = 1;
  }
}
