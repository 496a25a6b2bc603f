// server-bench.mjs: aggregate generation speed of `mixlm serve` with N concurrent streams.
//   node bench/server-bench.mjs URL STREAMS TOKENS
// URL is the server's base (http://127.0.0.1:PORT). Each stream is a /v1/completions request
// with a short token-id prompt, max_tokens TOKENS, logprobs on (a chunk per token), end-of-sequence banned (id 1; adjust with
// EOS=ID) so that every stream generates exactly TOKENS tokens. Prints per-stream decode speed
// and the aggregate: all generated tokens after each stream's first token, divided by the time
// from the earliest first token to the last token. No dependencies (Node's fetch).
const [url, nStr, tStr] = process.argv.slice(2);
const n = Number(nStr || 4), tokens = Number(tStr || 16), eos = process.env.EOS || '1';

async function one(i) {
  const body = {
    prompt: [2, 10 + i, 20 + i, 30 + i, 40, 50, 60, 70],
    max_tokens: tokens, temperature: 0, stream: true, logit_bias: { [eos]: -100 },
    logprobs: 0, // one chunk per token, even for tokens without text
  };
  const t0 = performance.now();
  const r = await fetch(url + '/v1/completions', { method: 'POST', body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
  const dec = new TextDecoder();
  let buf = '', first = null, last = null, count = 0;
  for await (const part of r.body) {
    buf += dec.decode(part, { stream: true });
    let k;
    while ((k = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, k); buf = buf.slice(k + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6));
      if (j.error) throw new Error(j.error.message);
      const c = j.choices && j.choices[0];
      if (c && c.finish_reason) continue;
      const now = performance.now();
      if (first === null) first = now; else count++;
      last = now;
    }
  }
  if (first === null) throw new Error(`stream ${i}: no tokens`);
  return { t0, first, last, count };
}

const res = await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
const start = Math.min(...res.map(r => r.first)), end = Math.max(...res.map(r => r.last));
const total = res.reduce((a, r) => a + r.count, 0);
for (const [i, r] of res.entries())
  console.log(`stream ${i}: first token after ${((r.first - r.t0) / 1000).toFixed(2)} s, ` +
              `${(r.count / ((r.last - r.first) / 1000)).toFixed(2)} tok/s`);
console.log(`streams ${n}, tokens ${total} in ${((end - start) / 1000).toFixed(2)} s: ` +
            `aggregate ${(total / ((end - start) / 1000)).toFixed(2)} tok/s`);
