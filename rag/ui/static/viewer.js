// The article view's script: after each update, scroll its box to the target paragraph and, when the
// user asked for the article (a source card's link, the preview's 查看原文), bring it into the page's view
// too: on a phone the view sits far below the chat.
const go = () => {
  const box = element.querySelector('.rag-article');
  const t = element.querySelector('.para.target');
  if (!box || !t) return;
  box.scrollTop = Math.max(0, t.offsetTop - box.clientHeight / 4);
  const r = t.getBoundingClientRect();
  if (window.__ragScrollToViewer && (r.top < 0 || r.bottom > window.innerHeight)) {
    t.scrollIntoView({block: 'center'});
  }
};
// The preview's 查看原文 asks for the article the view may already show (no update comes then).
window.__ragShowTarget = () => { window.__ragScrollToViewer = true; go(); };
watch('value', () => { setTimeout(go, 50); setTimeout(go, 400); });
