// client-test.mjs: drives a running `mixlm serve` with the official openai npm package and
// checks what an application would see. Environment:
//   MIXLM_URL      base URL, e.g. http://127.0.0.1:8080/v1
//   MIXLM_KEY      the server's API key
//   MIXLM_CHAT     "1" when the model has a chat template (chat tests run), else "0"
//   MIXLM_CONC     "clients x requests" for the concurrency test, default "8x25"
// Prints one line per check and "openai-client: N passed, N failed"; exits 1 on any failure.
import OpenAI from 'openai';

const base = process.env.MIXLM_URL;
const key = process.env.MIXLM_KEY || 'none';
const chatOk = process.env.MIXLM_CHAT !== '0';
const [nClients, nPer] = (process.env.MIXLM_CONC || '8x25').split('x').map(Number);
const client = new OpenAI({ baseURL: base, apiKey: key, maxRetries: 0, timeout: 60000 });

let passed = 0, failed = 0;
function check(cond, what, detail) {
  if (cond) passed++;
  else { failed++; console.error(`FAILED: ${what}${detail !== undefined ? ': ' + JSON.stringify(detail) : ''}`); }
}

async function expectError(fn, cls, status, what) {
  try {
    await fn();
    check(false, `${what}: no error`);
  } catch (e) {
    check(e instanceof cls, `${what}: ${cls.name}`, e && e.constructor && e.constructor.name);
    check(e.status === status, `${what}: status ${status}`, e.status);
    if (status !== 413) check(typeof e.error?.message === 'string' || typeof e.message === 'string', `${what}: message`);
  }
}

async function streamText(params) {
  const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  let text = '', finish = null, role = null, usage = null, n = 0;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices[0];
    if (!c) continue;
    if (n++ === 0) role = c.delta.role;
    if (c.delta.content) text += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
  return { text, finish, role, usage };
}

async function streamCompletion(params) {
  const stream = await client.completions.create({ ...params, stream: true });
  let text = '', finish = null;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (!c) continue;
    text += c.text;
    if (c.finish_reason) finish = c.finish_reason;
  }
  return { text, finish };
}

async function health() {
  const r = await fetch(base.replace(/\/v1$/, '') + '/health');
  return r.json();
}

async function main() {
  // Models
  const models = await client.models.list();
  const ids = [];
  for await (const m of models) ids.push(m.id);
  check(ids.length === 1, 'models.list has one model', ids);
  const model = ids[0];
  const m = await client.models.retrieve(model);
  check(m.id === model && m.object === 'model', 'models.retrieve');
  await expectError(() => client.models.retrieve('no-such-model'), OpenAI.NotFoundError, 404, 'unknown model');

  // Completions: non-streamed and streamed agree; seeds reproduce; stop strings.
  const cp = { model, prompt: 'The quick brown fox', max_tokens: 24, temperature: 0.8, seed: 11 };
  const c1 = await client.completions.create(cp);
  check(c1.object === 'text_completion', 'completion object', c1.object);
  check(typeof c1.choices[0].text === 'string', 'completion text');
  check(['stop', 'length'].includes(c1.choices[0].finish_reason), 'completion finish', c1.choices[0].finish_reason);
  check(c1.usage.prompt_tokens > 0 && c1.usage.completion_tokens > 0 &&
        c1.usage.total_tokens === c1.usage.prompt_tokens + c1.usage.completion_tokens, 'completion usage', c1.usage);
  const c2 = await client.completions.create(cp);
  check(c2.choices[0].text === c1.choices[0].text, 'seed reproduces a completion');
  const s1 = await streamCompletion(cp);
  check(s1.text === c1.choices[0].text && s1.finish === c1.choices[0].finish_reason, 'streamed completion equals the non-streamed one', [s1.text, c1.choices[0].text]);
  // A greedy answer, then the same request stopped at a string from its middle.
  let gp = null, gt = '';
  for (let k = 0; k < 8 && gt.length < 6; k++) {
    gp = { model, prompt: `Once upon a time ${k}`, max_tokens: 40, temperature: 0 };
    gt = (await client.completions.create(gp)).choices[0].text;
  }
  if (gt.length >= 6) {
    const stop = gt.slice(3, 5);
    const expect = gt.slice(0, gt.indexOf(stop));
    const st = await client.completions.create({ ...gp, stop: ['\u0000never', stop] });
    check(st.choices[0].text === expect && st.choices[0].finish_reason === 'stop', 'stop string', [st.choices[0].text, expect]);
    const ss = await streamCompletion({ ...gp, stop });
    check(ss.text === expect && ss.finish === 'stop', 'stop string (streamed)', [ss.text, expect]);
  } else {
    check(false, 'a greedy completion long enough for the stop-string test', gt);
  }

  // Chat
  if (chatOk) {
    const cc = { model, messages: [{ role: 'system', content: 'You are brief.' }, { role: 'user', content: 'Say something.' }], max_tokens: 20, seed: 5, temperature: 0.7 };
    const a = await client.chat.completions.create(cc);
    check(a.object === 'chat.completion', 'chat object');
    check(a.choices[0].message.role === 'assistant' && typeof a.choices[0].message.content === 'string', 'chat message');
    check(['stop', 'length'].includes(a.choices[0].finish_reason), 'chat finish');
    const b = await client.chat.completions.create(cc);
    check(b.choices[0].message.content === a.choices[0].message.content, 'seed reproduces a chat answer');
    const s = await streamText(cc);
    check(s.role === 'assistant', 'stream starts with the role');
    check(s.text === a.choices[0].message.content, 'streamed chat equals the non-streamed one', [s.text, a.choices[0].message.content]);
    check(s.finish === a.choices[0].finish_reason, 'streamed finish reason');
    check(s.usage && s.usage.completion_tokens === a.usage.completion_tokens, 'stream usage chunk', s.usage);
    const lp = await client.chat.completions.create({ ...cc, logprobs: true, top_logprobs: 2 });
    const content = lp.choices[0].logprobs?.content || [];
    check(content.length > 0 && content.every(t => t.logprob <= 0 && t.top_logprobs.length === 2), 'chat logprobs');
  }

  // Errors as the SDK's types
  await expectError(() => client.completions.create({ model, prompt: 'x', temperature: 9 }), OpenAI.BadRequestError, 400, 'temperature out of range');
  await expectError(() => client.completions.create({ model, prompt: 'x', n: 3 }), OpenAI.BadRequestError, 400, 'n > 1');
  await expectError(() => client.completions.create({ model, prompt: 'x', max_tokens: 1e12 }), OpenAI.BadRequestError, 400, 'huge max_tokens');
  await expectError(() => client.chat.completions.create({ model, messages: 'hello' }), OpenAI.BadRequestError, 400, 'messages not an array');
  const bad = new OpenAI({ baseURL: base, apiKey: key + '-wrong', maxRetries: 0 });
  await expectError(() => bad.completions.create({ model, prompt: 'x', max_tokens: 2 }), OpenAI.AuthenticationError, 401, 'wrong API key');
  await expectError(() => client.completions.create({ model, prompt: 'y'.repeat(3 << 20), max_tokens: 2 }), OpenAI.APIError, 413, 'body too large');
  try {
    await client.completions.create({ model, prompt: 'x', temperature: 9 });
  } catch (e) {
    check(e.error && e.error.type === 'invalid_request_error' && e.error.param === 'temperature', 'error body shape', e.error);
  }

  // Concurrency: nClients x nPer requests, streamed and not; each answer equals the same
  // request served alone afterwards.
  const req = (c, i) => ({ model, prompt: `client ${c} asks question ${i % 5}:`, max_tokens: 8 + (i * 7 + c) % 24, temperature: 0.9, top_p: 0.95, seed: c * 1000 + i });
  const results = [];
  await Promise.all(Array.from({ length: nClients }, async (_, c) => {
    for (let i = 0; i < nPer; i++) {
      const r = req(c, i);
      if ((c + i) % 2) results.push({ c, i, ...(await streamCompletion(r)) });
      else { const x = await client.completions.create(r); results.push({ c, i, text: x.choices[0].text, finish: x.choices[0].finish_reason }); }
    }
  }));
  check(results.length === nClients * nPer, 'every concurrent request answered', results.length);
  const h1 = await health();
  check(h1.slots_busy === 0 && h1.queued === 0, 'slots idle after the burst', h1);
  check(h1.max_batch >= 2, 'requests were batched together', h1.max_batch);
  let mismatch = 0;
  for (const r of results) {
    const alone = await streamCompletion(req(r.c, r.i));
    if (alone.text !== r.text || alone.finish !== r.finish) {
      if (mismatch++ < 3) console.error('mismatch', r.c, r.i, JSON.stringify(r.text), JSON.stringify(alone.text));
    }
  }
  check(mismatch === 0, 'concurrent answers equal the answers served alone', mismatch);

  // A client that aborts mid-stream frees its slot.
  const ac = new AbortController();
  const st = await client.completions.create({ model, prompt: 'abort me', max_tokens: 2000, stream: true, logit_bias: { '256': -100 } }, { signal: ac.signal });
  let got = 0;
  try {
    for await (const chunk of st) { if (++got >= 3) ac.abort(); }
  } catch (e) { /* the abort surfaces as an error on the iterator */ }
  let idle = false;
  for (let t = 0; t < 100 && !idle; t++) {
    const h = await health();
    idle = h.slots_busy === 0;
    if (!idle) await new Promise(r => setTimeout(r, 20));
  }
  check(idle, 'an aborted stream frees its slot');

  console.log(`openai-client: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch(e => { console.error('openai-client: crashed:', e); process.exit(1); });
