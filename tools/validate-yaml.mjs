// Validates YAML (or JSON) files against a JSON Schema (draft 2020-12) with Ajv.
//   node tools/validate-yaml.mjs SCHEMA FILE...             exit 1 unless every file is valid
//   node tools/validate-yaml.mjs --invalid SCHEMA FILE...   exit 1 unless every file is refused
//   node tools/validate-yaml.mjs --extract DIR CPP...       writes each R"( ... )" string that starts
//                                                           with "version:" to DIR/<name>.<n>.yaml
import fs from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

const args = process.argv.slice(2);
if (args[0] === '--extract') {
  const dir = args[1];
  fs.mkdirSync(dir, { recursive: true });
  for (const file of args.slice(2)) {
    const text = fs.readFileSync(file, 'utf8');
    let n = 0;
    for (const m of text.matchAll(/R"\(([\s\S]*?)\)"/g)) {
      const body = m[1].replace(/^\n/, '');
      if (!body.startsWith('version:')) continue;
      const out = path.join(dir, `${path.basename(file, '.cpp')}.${++n}.yaml`);
      fs.writeFileSync(out, body);
      console.log(out);
    }
  }
  process.exit(0);
}
const expectInvalid = args[0] === '--invalid';
if (expectInvalid) args.shift();
const [schemaFile, ...files] = args;
if (!schemaFile || files.length === 0) {
  console.error('usage: validate-yaml.mjs [--invalid] SCHEMA FILE...');
  process.exit(2);
}
const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
addFormats(ajv);
const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaFile, 'utf8')));
let bad = 0;
for (const file of files) {
  const data = YAML.parse(fs.readFileSync(file, 'utf8'));
  const ok = validate(data);
  if (ok && !expectInvalid) console.log(`valid ${file}`);
  else if (!ok && expectInvalid) console.log(`refused ${file}: ${ajv.errorsText(validate.errors)}`);
  else {
    ++bad;
    console.log(ok ? `accepted ${file}, expected it refused` : `invalid ${file}: ${ajv.errorsText(validate.errors, { separator: '\n  ' })}`);
  }
}
process.exit(bad ? 1 : 0);
