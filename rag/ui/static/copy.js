(md) => {
  if (!md) return;
  if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(md); return; }
  const t = document.createElement('textarea');
  t.value = md; document.body.appendChild(t); t.select(); document.execCommand('copy'); t.remove();
}
