"""The demo templates `make run` installs: public, bilingual, and together
covering every parameter type."""

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
]
