// Runs checks, each with a time limit, and prints one line per check in the
// form interop/run reads: `PASS <check> <what was seen>` or
// `FAIL <check> <why>`. The process exits 1 when a check failed.

import { isDeepStrictEqual } from 'node:util';

export const BIG = 4 * 1024 * 1024;

// The text `interop_bigAnswer [len]` answers: `0x` and `len` hex digits
// counting up.
export function bigAnswer(len) {
  return '0x' + '0123456789abcdef'.repeat(Math.ceil(len / 16)).slice(0, len);
}

// 64 values to echo, with the delays that make their answers come back in
// the reverse order.
export function echoCalls(count = 64) {
  return Array.from({ length: count }, (_, i) => ({
    value: { call: i, text: `call ${i}` },
    delay: 2 * (count - i),
  }));
}

// The first of `answers` that is not its call's value, as a failure message.
export function mismatches(calls, answers) {
  const wrong = calls.filter((call, i) => !isDeepStrictEqual(answers[i], call.value));
  if (wrong.length === 0) return null;
  const i = calls.indexOf(wrong[0]);
  return `${wrong.length} of ${calls.length} calls wrong, first: call ${i} sent ${JSON.stringify(calls[i].value)}, answered ${JSON.stringify(answers[i])}`;
}

// Whether `numbers` count up.
export function countingUp(numbers) {
  return numbers.every((n, i) => i === 0 || n > numbers[i - 1]);
}

function oneLine(text) {
  const line = String(text).replace(/\s+/g, ' ').trim();
  return line.length > 400 ? line.slice(0, 400) + '...' : line;
}

// Runs `checks` ([name, async () => seen] pairs) one after the other.
export async function run(checks, { limitMs = 20_000 } = {}) {
  let failed = 0;
  for (const [name, check] of checks) {
    let timer;
    const limit = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no result within ${limitMs / 1000} s`)), limitMs);
    });
    try {
      const seen = await Promise.race([check(), limit]);
      console.log(`PASS ${name} ${oneLine(seen)}`);
    } catch (error) {
      failed++;
      console.log(`FAIL ${name} ${oneLine(error?.message ?? error)}`);
    } finally {
      clearTimeout(timer);
    }
  }
  // Sockets and timers of checks that timed out would keep node alive.
  process.exit(failed ? 1 : 0);
}
