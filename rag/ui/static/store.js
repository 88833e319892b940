(record) => {
  // Keep the conversation in this browser (never on the server): newest first, at most 30 and at most
  // 600 KB of UTF-8 (the store goes to the server with the list of conversations, and a request to the
  // page is at most 1 MB); when the browser's storage is full, the oldest go first as well. Returns the
  // whole store for the list of conversations.
  const KEY = 'rag-chat';
  const MAX_BYTES = 600 * 1024;
  let store;
  try { store = JSON.parse(localStorage.getItem(KEY) || '{}'); } catch (e) { store = {}; }
  if (!Array.isArray(store.conversations)) store.conversations = [];
  let rec = null;
  try { rec = record ? JSON.parse(record) : null; } catch (e) { rec = null; }
  if (rec && rec.id) {
    store.conversations = [rec, ...store.conversations.filter((c) => c && c.id !== rec.id)].slice(0, 30);
    store.current = rec.id;
  }
  while (store.conversations.length > 1 && new Blob([JSON.stringify(store)]).size > MAX_BYTES) {
    store.conversations.pop();
  }
  while (true) {
    try { localStorage.setItem(KEY, JSON.stringify(store)); break; } catch (e) {
      if (store.conversations.length <= 1) break;
      store.conversations.pop();
    }
  }
  return [JSON.stringify(store)];
}
