// Swagger UI for /openapi.json, from the copy installed with the package (fastapi-offline).
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
