public enum PCSCPlaceholder {}
