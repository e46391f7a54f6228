/**
 * "Did you mean" for the `/reboot` grammar: the nearest known word to a mistyped one, by the optimal string
 * alignment form of the Damerau-Levenshtein distance (insertions, deletions, substitutions and swaps of two
 * neighbouring characters each cost 1; https://en.wikipedia.org/wiki/Damerau%E2%80%93Levenshtein_distance).
 * A swap matters here: `stauts` is one slip from `status`, two for plain Levenshtein. Pure.
 */

/** Edits between `a` and `b`, counted in code points (an emoji is one character). */
export function editDistance(a: string, b: string): number {
  const s = [...a];
  const t = [...b];
  // Three rows suffice: a swap looks back two rows.
  let before = new Array<number>(t.length + 1).fill(0);
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const current = [i];
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let d = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) d = Math.min(d, (before[j - 2] ?? 0) + 1);
      current[j] = d;
    }
    before = previous;
    previous = current;
  }
  return previous[t.length] ?? 0;
}

/**
 * The most edits a suggestion may be away: none under three characters, one up to four (a three-letter word two
 * edits off is another word: `aws` is not `bce`), then one more per three characters, at most three.
 */
export function suggestionThreshold(typed: string): number {
  const length = [...typed].length;
  if (length < 3) return 0;
  return Math.min(3, Math.max(1, Math.floor((length + 1) / 3)));
}

/**
 * The known words nearest to `typed` (case-insensitive), when they are within suggestionThreshold; the closest
 * distance only, in the order given, at most `max`. Empty when nothing is close enough or `typed` is itself known.
 */
export function closestWords(typed: string, known: readonly string[], max = 2): string[] {
  const word = typed.toLowerCase();
  const limit = suggestionThreshold(word);
  if (limit === 0) return [];
  let best = limit;
  let picks: string[] = [];
  for (const candidate of new Set(known)) {
    const d = editDistance(word, candidate.toLowerCase());
    if (d === 0) return [];
    if (d > best) continue;
    if (d < best || picks.length === 0) {
      best = d;
      picks = [candidate];
    } else if (d === best) {
      picks.push(candidate);
    }
  }
  return picks.slice(0, max);
}

/** " Did you mean `a`?" / " Did you mean `a` or `b`?", or '' with nothing to suggest; `spell` writes a word as typed. */
export function didYouMean(typed: string, known: readonly string[], spell: (word: string) => string = (w) => w): string {
  const picks = closestWords(typed, known);
  if (picks.length === 0) return '';
  return ` Did you mean ${picks.map((p) => `\`${spell(p)}\``).join(' or ')}?`;
}
