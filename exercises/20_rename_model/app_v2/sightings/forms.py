from django import forms

from .models import Note, Sighting


class SightingForm(forms.ModelForm):
    error_css_class = "has-error"
    required_css_class = "required"

    class Meta:
        model = Sighting
        fields = ["title", "description", "location", "sighted_at", "reporter"]
        widgets = {
            "title": forms.TextInput(attrs={"placeholder": "Tall figure crossing the logging road"}),
            "description": forms.Textarea(
                attrs={"rows": 6, "maxlength": 2000, "data-counter": "true",
                       "placeholder": "What did you see, hear or smell?"}
            ),
            "location": forms.TextInput(attrs={"placeholder": "Bluff Creek, California"}),
            "sighted_at": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            ),
            "reporter": forms.TextInput(attrs={"placeholder": "Your name"}),
        }
        labels = {"sighted_at": "When"}


class CommentForm(forms.ModelForm):
    error_css_class = "has-error"
    required_css_class = "required"

    class Meta:
        model = Note
        fields = ["author", "body"]
        widgets = {
            "author": forms.TextInput(attrs={"placeholder": "Your name"}),
            "body": forms.Textarea(
                attrs={"rows": 3, "maxlength": 1000, "data-counter": "true",
                       "placeholder": "Add a comment"}
            ),
        }
        labels = {"author": "Name", "body": "Comment"}
