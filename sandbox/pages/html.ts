/** Small HTML helpers for the hosted pages (no templates, no scripts). */

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

export function money(amount: number | null, currency: string | null): string {
  const value = ((amount ?? 0) / 100).toFixed(2);
  return `${value} ${(currency ?? 'usd').toUpperCase()}`;
}

export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
h1{font-size:1.4rem}.test{background:#ffde92;padding:.2rem .5rem;border-radius:.3rem;font-size:.8rem}
table{width:100%;border-collapse:collapse}td{padding:.3rem 0;border-bottom:1px solid #eee}
.error{color:#b00020}.box{border:1px solid #ddd;border-radius:.5rem;padding:1rem;margin:1rem 0}
button{padding:.5rem 1rem;margin:.2rem .2rem .2rem 0}input,select{padding:.4rem}
</style></head><body><p><span class="test">TEST MODE · local Stripe sandbox</span></p>
${body}</body></html>`;
}

export function hidden(name: string, value: string): string {
  return `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`;
}
