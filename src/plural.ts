/** "1 instance", "2 instances": counts people read, never "instance(s)". English plurals by `s` are all this bot needs. */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
