(chosen) => {
  // Another conversation of this browser chosen: it becomes the current one, and its record goes to the server.
  let text = localStorage.getItem('rag-chat') || '';
  try { const s = JSON.parse(text || '{}'); s.current = chosen || ''; text = JSON.stringify(s);
    localStorage.setItem('rag-chat', text); } catch (e) {}
  return [chosen, text];
}
