(md) => {
  // One copy control, with feedback: the button says what happened for a moment.
  const btn = [...document.querySelectorAll('#chat button')].find((b) => b.textContent.includes('复制为 Markdown')
    || b.dataset.ragCopy);
  const say = (text) => {
    if (!btn) return;
    btn.dataset.ragCopy = '1';
    const label = [...btn.childNodes].find((n) => n.nodeType === 3 && n.textContent.trim()) || btn;
    const was = label.textContent.includes('复制为 Markdown') ? label.textContent : '复制为 Markdown';
    label.textContent = text;
    setTimeout(() => { label.textContent = was; }, 1500);
  };
  if (!md) { say('还没有回答可复制'); return; }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(md).then(() => say('已复制 ✓'), () => say('复制失败'));
    return;
  }
  const t = document.createElement('textarea');
  t.value = md; document.body.appendChild(t); t.select();
  say(document.execCommand('copy') ? '已复制 ✓' : '复制失败'); t.remove();
}
