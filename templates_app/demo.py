"""The demo templates `make run` installs: public, bilingual, and together
covering every parameter type and every key of the schema (docs/schema.md)."""

from __future__ import annotations

from typing import Any

DEMO_TEMPLATES: list[dict[str, Any]] = [
    {
        "slug": "product-description",
        "name": "Product description",
        "description": "A short, vivid description for a product page.",
        "system_prompt": "You are a copywriter who writes concise, honest product copy.",
        "body": (
            "Write a {{ tone }} product description of about {{ word_count }} words for "
            "“{{ product_name }}”.\n\nKey features:\n{{ features }}\n"
            "{% if include_call_to_action %}\nEnd with a one-line call to action.{% endif %}"
        ),
        "parameters": [
            {
                "name": "product_name",
                "type": "string",
                "label": {"en": "Product name", "pt": "Nome do produto"},
                "help": {"en": "As it appears on the shelf.", "pt": "Como aparece na prateleira."},
                "max_length": 80,
            },
            {
                "name": "features",
                "type": "text",
                "label": {"en": "Key features", "pt": "Principais características"},
                "help": {"en": "One per line.", "pt": "Uma por linha."},
                "min_length": 3,
                "max_length": 2000,
            },
            {
                "name": "tone",
                "type": "choice",
                "label": {"en": "Tone", "pt": "Tom"},
                "choices": [
                    {"value": "friendly", "label": {"en": "Friendly", "pt": "Amigável"}},
                    {"value": "professional", "label": {"en": "Professional", "pt": "Profissional"}},
                    {"value": "playful", "label": {"en": "Playful", "pt": "Divertido"}},
                ],
                "default": "friendly",
            },
            {
                "name": "word_count",
                "type": "integer",
                "label": {"en": "Length in words", "pt": "Tamanho em palavras"},
                "min": 20,
                "max": 300,
                "default": 80,
            },
            {
                "name": "include_call_to_action",
                "type": "boolean",
                "label": {"en": "End with a call to action", "pt": "Terminar com uma chamada para ação"},
                "default": True,
            },
        ],
    },
    {
        "slug": "email-reply",
        "name": "Email reply",
        "description": "A polite reply to an email, in the register you choose.",
        "system_prompt": "You write clear, courteous business email.",
        "body": (
            "Reply to the email below{% if sender_name %} from {{ sender_name }}{% endif %}.\n"
            "Register: {{ register }}. Warmth from 0 to 1: {{ warmth }}.\n\n---\n{{ incoming_email }}\n---"
        ),
        "parameters": [
            {
                "name": "incoming_email",
                "type": "text",
                "label": {"en": "Email to answer", "pt": "E-mail a responder"},
                "help": {"en": "Paste the whole message.", "pt": "Cole a mensagem inteira."},
                "max_length": 5000,
            },
            {
                "name": "sender_name",
                "type": "string",
                "label": {"en": "Sender's name", "pt": "Nome do remetente"},
                "required": False,
                "max_length": 100,
            },
            {
                "name": "register",
                "type": "choice",
                "label": {"en": "Register", "pt": "Registro"},
                "choices": [
                    {"value": "very formal", "label": {"en": "Very formal", "pt": "Muito formal"}},
                    {"value": "formal", "label": {"en": "Formal", "pt": "Formal"}},
                    {"value": "neutral", "label": {"en": "Neutral", "pt": "Neutro"}},
                    {"value": "friendly", "label": {"en": "Friendly", "pt": "Amigável"}},
                    {"value": "casual", "label": {"en": "Casual", "pt": "Descontraído"}},
                    {"value": "terse", "label": {"en": "Brief and to the point", "pt": "Breve e direto"}},
                ],
                "default": "neutral",
            },
            {
                "name": "warmth",
                "type": "number",
                "label": {"en": "Warmth", "pt": "Cordialidade"},
                "help": {"en": "From 0 (cool) to 1 (warm).", "pt": "De 0 (fria) a 1 (calorosa)."},
                "min": 0,
                "max": 1,
                "step": 0.1,
                "default": 0.5,
            },
        ],
    },
    {
        "slug": "meeting-summary",
        "name": "Meeting summary",
        "description": "Turn raw meeting notes into a short summary with action items.",
        "system_prompt": "You summarise meetings faithfully, never inventing facts.",
        "body": (
            "Summarise these meeting notes in at most {{ max_bullets }} bullet points for {{ audience }}."
            "{% if include_action_items %} Then list the action items with their owners.{% endif %}"
            "\n\n{{ notes }}"
        ),
        "parameters": [
            {
                "name": "notes",
                "type": "text",
                "label": {"en": "Meeting notes", "pt": "Anotações da reunião"},
                "placeholder": {"en": "Who said what…", "pt": "Quem disse o quê…"},
                "min_length": 20,
                "max_length": 20000,
            },
            {
                "name": "max_bullets",
                "type": "integer",
                "label": {"en": "Most bullet points", "pt": "Máximo de tópicos"},
                "min": 3,
                "max": 10,
                "default": 5,
            },
            {
                "name": "audience",
                "type": "choice",
                "label": {"en": "Audience", "pt": "Público"},
                "choices": [
                    {"value": "the team", "label": {"en": "The team", "pt": "A equipe"}},
                    {"value": "executives", "label": {"en": "Executives", "pt": "Executivos"}},
                ],
                "default": "the team",
            },
            {
                "name": "include_action_items",
                "type": "boolean",
                "label": {"en": "List action items", "pt": "Listar itens de ação"},
                "default": True,
            },
        ],
    },
    {
        "slug": "support-ticket",
        "name": "Support ticket",
        "description": "Turn a customer's problem report into a clear, prioritised support ticket.",
        "system_prompt": "You are a support engineer who writes precise, reproducible tickets.",
        "body": (
            "Write a support ticket in {{ ticket_format }} for ticket {{ ticket_id }}.\n"
            "Reported by {{ reporter_email }} on {{ happened_on }}; severity {{ severity }}.\n"
            "{% if page_url %}Page: {{ page_url }}\n{% endif %}"
            "Areas: {{ areas | join(', ') }}.\n\nWhat happened:\n{{ description }}\n"
            "{% if log_file %}\nLog:\n{{ log_file }}\n{% endif %}"
        ),
        "parameters": [
            {
                "name": "description",
                "type": "text",
                "label": {"en": "What happened?", "pt": "O que aconteceu?"},
                "help": {
                    "en": "The steps taken, what was expected, and what happened instead.",
                    "pt": "Os passos seguidos, o que se esperava e o que aconteceu.",
                },
                "placeholder": {"en": "I clicked “Pay” and…", "pt": "Cliquei em “Pagar” e…"},
                "min_length": 10,
                "max_length": 4000,
                "group": {"en": "The problem", "pt": "O problema"},
                "order": 20,
            },
            {
                "name": "reporter_email",
                "type": "email",
                "label": {"en": "Your email address", "pt": "Seu endereço de e-mail"},
                "help": {"en": "We answer here.", "pt": "Responderemos para ele."},
                "placeholder": "name@example.com",
                "max_length": 254,
                "group": {"en": "About you", "pt": "Sobre você"},
                "order": 10,
            },
            {
                "name": "ticket_id",
                "type": "string",
                "label": {"en": "Ticket number", "pt": "Número do chamado"},
                "help": {
                    "en": "Three capital letters, a hyphen and digits.",
                    "pt": "Três letras maiúsculas, um hífen e dígitos.",
                },
                "placeholder": "ABC-123",
                "pattern": "[A-Z]{3}-[0-9]{1,6}",
                "pattern_message": {
                    "en": "Enter the ticket number like ABC-123.",
                    "pt": "Digite o número do chamado como ABC-123.",
                },
                "group": {"en": "About you", "pt": "Sobre você"},
                "order": 11,
            },
            {
                "name": "happened_on",
                "type": "date",
                "label": {"en": "When did it happen?", "pt": "Quando aconteceu?"},
                "min": "2020-01-01",
                "max": "2035-12-31",
                "group": {"en": "The problem", "pt": "O problema"},
                "order": 21,
            },
            {
                "name": "page_url",
                "type": "url",
                "label": {"en": "Address of the page", "pt": "Endereço da página"},
                "placeholder": "https://example.com/checkout",
                "required": False,
                "max_length": 500,
                "group": {"en": "The problem", "pt": "O problema"},
                "order": 22,
            },
            {
                "name": "areas",
                "type": "multichoice",
                "label": {"en": "Which areas are affected?", "pt": "Quais áreas são afetadas?"},
                "help": {"en": "Choose one to three.", "pt": "Escolha de uma a três."},
                "choices": [
                    {"value": "billing", "label": {"en": "Billing", "pt": "Cobrança"}},
                    {"value": "login", "label": {"en": "Signing in", "pt": "Acesso"}},
                    {"value": "search", "label": {"en": "Search", "pt": "Busca"}},
                    {"value": "mobile", "label": {"en": "Mobile app", "pt": "Aplicativo"}},
                ],
                "min_items": 1,
                "max_items": 3,
                "order": 30,
            },
            {
                "name": "severity",
                "type": "choice",
                "label": {"en": "Severity", "pt": "Gravidade"},
                "choices": [
                    {"value": "low", "label": {"en": "Low", "pt": "Baixa"}},
                    {"value": "medium", "label": {"en": "Medium", "pt": "Média"}},
                    {"value": "high", "label": {"en": "High", "pt": "Alta"}},
                ],
                "widget": "select",
                "default": "medium",
                "order": 31,
            },
            {
                "name": "log_file",
                "type": "file",
                "label": {"en": "Log file", "pt": "Arquivo de log"},
                "help": {"en": "If you have one.", "pt": "Se tiver um."},
                "required": False,
                "max_size": 20000,
                "extensions": [".txt", ".log"],
                "order": 40,
            },
            {
                "name": "ticket_format",
                "type": "choice",
                "choices": ["Markdown", "plain text"],
                "default": "Markdown",
                "hidden": True,
            },
        ],
    },
    {
        "slug": "data-extraction",
        "name": "Data extraction",
        "description": "Pull the fields you name out of a document, as JSON.",
        "system_prompt": "You extract data faithfully and answer with JSON only.",
        "body": (
            "From the document below, extract these fields: {{ fields | join(', ') }}.\n"
            "Confidence threshold: {{ threshold }}. Answer as {{ output_style }}.\n"
            "{% if instructions %}Also: {{ instructions }}\n{% endif %}\n---\n{{ document }}\n---"
        ),
        "parameters": [
            {
                "name": "document",
                "type": "file",
                "label": {"en": "Document", "pt": "Documento"},
                "extensions": [".txt", ".md", ".csv"],
                "max_size": 100000,
            },
            {
                "name": "fields",
                "type": "json",
                "label": {"en": "Fields to extract", "pt": "Campos a extrair"},
                "help": {
                    "en": 'A JSON list of field names, such as ["invoice_number", "total"].',
                    "pt": 'Uma lista JSON de nomes de campos, como ["numero_da_nota", "total"].',
                },
                "default": ["name", "date", "total"],
                "schema": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1},
                    "minItems": 1,
                    "maxItems": 20,
                },
            },
            {
                "name": "threshold",
                "type": "number",
                "label": {"en": "Confidence threshold", "pt": "Limite de confiança"},
                "help": {"en": "Between 0 and 1, in steps of 0.05.", "pt": "Entre 0 e 1, em passos de 0,05."},
                "min": 0,
                "max": 1,
                "step": 0.05,
                "default": 0.8,
            },
            {
                "name": "output_style",
                "type": "choice",
                "label": {"en": "Output", "pt": "Saída"},
                "choices": [
                    {"value": "one JSON object", "label": {"en": "One object", "pt": "Um objeto"}},
                    {"value": "JSON lines", "label": {"en": "JSON lines", "pt": "Linhas JSON"}},
                ],
                "widget": "select",
                "required": False,
            },
            {
                "name": "instructions",
                "type": "string",
                "label": {"en": "Other instructions", "pt": "Outras instruções"},
                "required": False,
                "max_length": 200,
            },
        ],
    },
]
