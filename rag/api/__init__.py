"""The HTTP API and the MCP tools: the knowledge base for OpenAI clients, Dify and assistants.

``app.create_api`` builds the FastAPI app that ``rag serve`` mounts the page
into: OpenAI-compatible chat (``openai_chat``), Dify's External Knowledge API
(``dify``), the CLI's own JSON (``native``), and the MCP tools (``mcp_tools``,
also served over stdio by ``rag mcp``). Who may call and how often: ``access``.
Every route calls the door (``rag.kb.bases.KnowledgeBases``, shared with the page).
May import kb and the shared bottom modules; never a pipeline stage (answer, search,
store, embed, ingest), the browser page (``rag.ui``), the web server or the CLI.
"""
