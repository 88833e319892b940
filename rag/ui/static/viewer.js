const go = () => {
  const box = element.querySelector('.rag-article');
  const t = element.querySelector('.para.target');
  if (box && t) box.scrollTop = Math.max(0, t.offsetTop - box.clientHeight / 4);
};
watch('value', () => { setTimeout(go, 50); setTimeout(go, 400); });
