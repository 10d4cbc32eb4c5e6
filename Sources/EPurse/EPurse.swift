public enum EPursePlaceholder {}
