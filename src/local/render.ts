/** Renders Slack messages as plain terminal text for local mode. Pure. */

export interface NameBook {
  name(userId: string): string;
  channel?(channelId: string): string;
}

/** Turns Slack mrkdwn escapes into what a person would read. */
const EMOJI: Record<string, string> = {
  ':white_check_mark:': '✅',
  ':x:': '❌',
  ':warning:': '⚠️ ',
  ':grey_question:': '❓',
  ':hourglass_flowing_sand:': '⏳',
  ':hourglass:': '⌛',
  ':no_entry:': '⛔',
  ':rotating_light:': '🚨',
  ':arrows_counterclockwise:': '🔄',
  ':large_green_circle:': '🟢',
  ':checkered_flag:': '🏁',
};

export function plainMrkdwn(text: string, names: NameBook): string {
  return text
    .replace(/:[a-z_]+:/g, (code) => EMOJI[code] ?? code)
    .replace(/(^|[\s(])\*([^*\n]+)\*/g, '$1$2')
    .replace(/<@([A-Z0-9]+)>/g, (_m, id: string) => `@${names.name(id)}`)
    .replace(/<#([A-Z0-9]+)>/g, (_m, id: string) => `#${names.channel?.(id) ?? id}`)
    .replace(/<!date\^\d+\^[^|>]*\|([^>]*)>/g, '$1')
    .replace(/<(https?:[^|>]+)\|([^>]+)>/g, '$2 ($1)')
    .replace(/```/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

interface Block {
  type?: string;
  text?: { text?: string };
  fields?: Array<{ text?: string }>;
  accessory?: { type?: string; text?: { text?: string } };
  elements?: Array<{ type?: string; text?: string | { text?: string }; style?: string }>;
}

export function renderBlocks(blocks: unknown[], fallback: string, names: NameBook): string[] {
  if (blocks.length === 0) return plainMrkdwn(fallback, names).split('\n');
  const lines: string[] = [];
  for (const block of blocks as Block[]) {
    switch (block.type) {
      case 'header':
        lines.push(`== ${block.text?.text ?? ''} ==`);
        break;
      case 'section':
        if (block.text?.text) lines.push(...plainMrkdwn(block.text.text, names).split('\n'));
        if (block.fields) {
          lines.push(block.fields.map((f) => plainMrkdwn(f.text ?? '', names).replace('\n', ': ')).join('   '));
        }
        // The card's only accessory is "Show all N ids", which the `ids` command clicks.
        if (block.accessory?.type === 'button') lines.push(`[ ${block.accessory.text?.text ?? ''} ]   (type: ids)`);
        break;
      case 'context':
        for (const e of block.elements ?? []) {
          if (typeof e.text === 'string') lines.push(...plainMrkdwn(e.text, names).split('\n'));
        }
        break;
      case 'actions':
        lines.push(
          (block.elements ?? [])
            .map((e) => `[ ${typeof e.text === 'object' ? (e.text.text ?? '') : ''} ]`)
            .join(' ') + '   (type: approve | deny)',
        );
        break;
      default:
        break;
    }
  }
  return lines;
}

export function boxed(title: string, lines: readonly string[]): string {
  const width = Math.min(100, Math.max(title.length + 4, ...lines.map((l) => l.length + 4)));
  const top = `┌─ ${title} ${'─'.repeat(Math.max(0, width - title.length - 4))}┐`;
  const body = lines.map((l) => `│ ${l}`);
  return [top, ...body, `└${'─'.repeat(width - 1)}┘`].join('\n');
}
