// Text put into dev-https' own HTML pages: what a client sent can never become markup.

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
