window.__ragOpenCite = (key) => trigger('click', {cite: key});
element.addEventListener('click', (ev) => {
  const a = ev.target.closest('[data-cite]');
  if (a) { ev.preventDefault(); window.__ragOpenCite(a.dataset.cite); }
});
if (!window.__ragChatLinks) {
  window.__ragChatLinks = true;
  document.addEventListener('click', (ev) => {
    const a = ev.target.closest && ev.target.closest('a[href^="#cite-"]');
    if (!a) return;
    ev.preventDefault(); ev.stopPropagation();
    window.__ragOpenCite(a.getAttribute('href').slice(6));
  }, true);
}
