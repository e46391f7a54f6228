/**
 * Escapes the three characters Slack's mrkdwn treats as markup, so user text such as `<!channel>` is
 * shown, never acted on (https://api.slack.com/reference/surfaces/formatting#escaping). Slack
 * applies this markup inside code spans too.
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
