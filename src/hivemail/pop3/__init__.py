"""The asyncio POP3 session layer: drives ``pop3_proto`` over a socket, on the mailstore."""
