// The sources panel's script (runs once). Citation links here or in the chat open the article
// (trigger -> chat.open_citation); [n] in the chat previews its paragraph in place: a popover
// beside the link, a bottom sheet on a phone. The preview is a copy of the source card's
// paragraph (already escaped HTML made by the server), never text put in as markup.
window.__ragOpenCite = (key) => trigger('click', {cite: key});
const narrow = () => window.innerWidth < 700;
const preview = () => {
  let box = document.getElementById('rag-preview');
  if (!box) {
    box = document.createElement('div');
    box.id = 'rag-preview'; box.className = 'rag-preview'; box.hidden = true;
    box.addEventListener('mouseleave', () => { if (!narrow()) box.hidden = true; });
    document.body.appendChild(box);
  }
  return box;
};
let pending = null;
window.__ragPreview = (key, anchor) => {
  const [turn, cite] = key.split('-');
  const card = element.querySelector(`.rag-sources[data-turn="${turn}"] .cite-card[data-keys~="${key}"]`);
  if (!card) { pending = [key, anchor]; return false; }
  pending = null;
  const box = preview();
  box.replaceChildren();
  const head = document.createElement('div');
  head.className = 'pv-head';
  const title = document.createElement('span');
  title.textContent = `[${cite.slice(1)}] ` + (card.querySelector('.src-title')?.textContent || '');
  const open = document.createElement('a');
  open.href = '#'; open.className = 'pv-open'; open.textContent = '查看原文 ›';
  open.addEventListener('click', (ev) => { ev.preventDefault(); box.hidden = true;
    window.__ragScrollToViewer = true; window.__ragOpenCite(key);
    [300, 900].forEach((ms) => setTimeout(() => window.__ragShowTarget && window.__ragShowTarget(), ms)); });
  const close = document.createElement('button');
  close.type = 'button'; close.className = 'pv-close'; close.textContent = '×'; close.title = '关闭';
  close.addEventListener('click', () => { box.hidden = true; });
  head.append(title, open, close);
  const para = card.querySelector('.cite-para').cloneNode(true);
  para.className = 'pv-para';
  para.querySelectorAll('mark').forEach((m) => m.classList.toggle('other', m.dataset.n !== cite.slice(1)));
  box.append(head, para);
  box.classList.toggle('sheet', narrow());
  box.hidden = false;
  if (!narrow() && anchor) {
    const r = anchor.getBoundingClientRect();
    box.style.left = Math.max(8, Math.min(r.left, window.innerWidth - box.offsetWidth - 8)) + 'px';
    const below = r.bottom + 6 + box.offsetHeight < window.innerHeight;
    box.style.top = (below ? r.bottom + 6 : Math.max(8, r.top - box.offsetHeight - 6)) + 'px';
  } else { box.style.left = ''; box.style.top = ''; }
  return true;
};
watch('value', () => { if (pending) window.__ragPreview(...pending); });
element.addEventListener('click', (ev) => {
  const a = ev.target.closest('[data-cite]');
  if (a) { ev.preventDefault(); window.__ragScrollToViewer = true; window.__ragOpenCite(a.dataset.cite); }
});
// The chat follows a new answer even when the user had scrolled up.
window.__ragChatBottom = () => {
  document.querySelectorAll('#chat *').forEach((el) => {
    if (el.scrollHeight > el.clientHeight + 4 && /(auto|scroll)/.test(getComputedStyle(el).overflowY)) {
      el.scrollTop = el.scrollHeight;
    }
  });
};
if (!window.__ragChatLinks) {
  window.__ragChatLinks = true;
  const chatLink = (ev) => ev.target.closest && ev.target.closest('a[href^="#cite-"]');
  document.addEventListener('click', (ev) => {
    const a = chatLink(ev);
    if (!a) return;
    ev.preventDefault(); ev.stopPropagation();
    const key = a.getAttribute('href').slice(6);
    window.__ragPreview(key, a);
    // On a phone the sheet shows the paragraph where the user is; its 查看原文 scrolls to the article.
    window.__ragScrollToViewer = false;
    window.__ragOpenCite(key);
  }, true);
  document.addEventListener('mouseover', (ev) => {
    const a = chatLink(ev);
    if (a && !narrow()) window.__ragPreview(a.getAttribute('href').slice(6), a);
  });
  document.addEventListener('mouseout', (ev) => {
    if (!chatLink(ev) || narrow()) return;
    setTimeout(() => { const box = preview(); if (!box.matches(':hover')) box.hidden = true; }, 400);
  });
}
