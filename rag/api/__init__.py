"""The HTTP API and the MCP tools: the knowledge base for OpenAI clients, Dify and assistants.

``app.create_api`` builds the FastAPI app that ``rag serve`` mounts the page
into: OpenAI-compatible chat (``openai_chat``), Dify's External Knowledge API
(``dify``), the CLI's own JSON (``native``), and the MCP tools (``mcp_tools``,
also served over stdio by ``rag mcp``). Who may call and how often: ``access``.
May import kb, answer, search, store and the bottom modules; never the browser
page (``rag.ui``) or the CLI.
"""
