"""`gtgan serve`: a web page (Gradio, an optional extra) to type a caption and see the birds.

`Service` (service.py) holds the one model and checks every request; `build_app` / `serve`
(app.py) put it on a page; `model_card` (model_card.py) says what model it is. Importing this
package does not import Gradio.
"""
from .app import API_GENERATE, API_INTERPOLATE, NEEDS_EXTRA, build_app, import_gradio, serve
from .model_card import Example, ModelCard, model_card
from .service import Result, Service, ServeOptions

__all__ = ["API_GENERATE", "API_INTERPOLATE", "Example", "ModelCard", "NEEDS_EXTRA", "Result",
           "ServeOptions", "Service", "build_app", "import_gradio", "model_card", "serve"]
